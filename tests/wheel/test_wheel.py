"""The release path on the one platform these machines have (Linux x86_64): build the
manylinux wheel from the committed tree with scripts/build-wheel.sh, install it into a
fresh venv of another CPython with scripts/test-wheel.sh and run tests against the
installed package. Minutes of work, so it runs only with DSTREAM_WHEEL_TEST=1;
DSTREAM_WHEEL_TEST_ARGS picks the tests run inside (default: the kit and core suites
and the archive extractor's tests; "tests" runs everything). The archive extractor's
tests also run on the oldest CPython the abi3 wheel supports (3.9; 3.11 is the
interpreter of the main suite, the default one here is newer), since dstream reads tar
layers itself and its policy must not depend on the version of `tarfile`. 3.10 is left
out: its venv with the test extras costs CI two minutes and its tarfile is neither end."""

from __future__ import annotations

import glob
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3000),  # a build, a venv and a suite: minutes, as the waits below
    pytest.mark.skipif(
        os.environ.get("DSTREAM_WHEEL_TEST") != "1", reason="set DSTREAM_WHEEL_TEST=1 to build"
    ),
]


# Unit and fuzz tests of the extractor: no registry, no service.
ARCHIVE_TESTS = ["tests/oci/test_archive.py", "tests/oci/test_archive_fuzz.py"]
DEFAULT_ARGS = ["tests/kit", "tests/core", *ARCHIVE_TESTS]
OLDER_PYTHONS = ["3.9"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([str(ROOT / "scripts/build-wheel.sh"), str(dist)], check=True, timeout=3000)
    wheels = sorted(dist.glob("dstream-*.whl"))
    assert len(wheels) == 1 and (dist / wheels[0].name).exists()
    assert list(dist.glob("dstream-*.tar.gz")), "no sdist"
    yield wheels[0]


def _test_installed(wheel: Path, args: list[str], python: str = "") -> str:
    """scripts/test-wheel.sh: `wheel` in a fresh venv (of `python`, else the script's
    choice), then pytest `args` against it; pytest's output."""
    env = {**os.environ, "WHEEL_PYTHON": python} if python else None
    run = subprocess.run(
        [str(ROOT / "scripts/test-wheel.sh"), str(wheel), "--", *args],
        capture_output=True,
        text=True,
        timeout=3000,
        env=env,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "dstream imported from" in run.stderr and "/venv/" in run.stderr
    assert " passed" in run.stdout, run.stdout[-3000:]
    return run.stdout


def test_manylinux_wheel_installs_elsewhere_and_passes(wheel: Path) -> None:
    name = wheel.name
    assert "-cp39-abi3-" in name and "manylinux_2_17_x86_64" in name, name
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert any(n.startswith("dstream/_core") for n in names)
    assert "dstream/kit/templates/input.py.tmpl" in names  # package data is shipped
    assert "dstream/py.typed" in names  # provider authors' mypy reads the SDK's types
    args = os.environ.get("DSTREAM_WHEEL_TEST_ARGS", "").split() or DEFAULT_ARGS
    _test_installed(wheel, args)


@pytest.mark.parametrize("version", OLDER_PYTHONS)
def test_the_archive_policy_holds_on_older_cpythons(wheel: Path, version: str) -> None:
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python3"))
    assert found, f"no CPython {version} under {root}/versions (pyenv install {version})"
    out = _test_installed(wheel, ARCHIVE_TESTS, python=found[-1])
    assert " skipped" not in out, out[-3000:]
