"""A scaffolded provider's published artifact (`build.sh`: a Python zipapp) runs where
dstream is installed in a venv or with pipx, whose `python3` on PATH is not the one
holding dstream: it runs with the Python of the `dstream` command on PATH. Where none
can import dstream, it says so in one line, not a traceback.

"A python3 without dstream" is this interpreter's base with `-S` (no site-packages),
first on PATH, as /usr/bin/python3 is on a machine where dstream lives in a venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import orjson
import pytest

from tests.workspace import CliResult, dstream, executable

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/plugin.linux_amd64 of a new input provider, as `build.sh` makes it."""
    parent = tmp_path_factory.mktemp("zipapp")
    created = dstream("provider", "new", "zip-source", "--role", "input", "--dir", str(parent))
    assert created.returncode == 0, created.stderr
    built = subprocess.run(
        ["sh", str(parent / "zip-source" / "build.sh")],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    return parent / "zip-source" / "dist" / "plugin.linux_amd64"


@pytest.fixture
def bare_python3(tmp_path: Path) -> Path:
    """A directory holding a `python3` that cannot import dstream."""
    where = tmp_path / "bare-bin"
    where.mkdir()
    base = getattr(sys, "_base_executable", sys.executable)
    executable(where / "python3", f'#!/bin/sh\nexec "{base}" -S "$@"\n')
    probe = subprocess.run([str(where / "python3"), "-c", "import dstream"], capture_output=True)
    assert probe.returncode != 0, "the bare python3 imports dstream"
    return where


def _system_path() -> list[str]:
    """Where sh, env and setpriv are, without any Python of this machine's."""
    return [d for d in ("/usr/bin", "/bin") if os.path.isdir(d)]


def _run(tmp_path: Path, artifact: Path, path: list[str], python: str = "") -> CliResult:
    """`dstream run` of a task reading the artifact, with this PATH; `python`: the
    DSTREAM_PYTHON its env map sets."""
    env_map = f'    env = {{ DSTREAM_PYTHON = "{python}" }}\n' if python else ""
    (tmp_path / "dstream.hcl").write_text(
        f"""
task "z" {{
  input {{
    provider_path = "{artifact}"
{env_map}    config {{ count = 3 }}
  }}
  output {{
    provider_path = "dstream-file"
    config {{ path = "out.jsonl" }}
  }}
}}
"""
    )
    return dstream(
        "run", "z", cwd=tmp_path,
        env={"PATH": os.pathsep.join(path), "DSTREAM_CACHE_DIR": str(tmp_path / "cache"),
             "XDG_STATE_HOME": str(tmp_path / "state")},
        without="DSTREAM_",
    )  # fmt: skip


def _envelopes(tmp_path: Path) -> list[object]:
    return [
        orjson.loads(line)["data"] for line in (tmp_path / "out.jsonl").read_text().splitlines()
    ]


def test_it_runs_with_the_python_of_the_dstream_command_on_path(
    tmp_path: Path, artifact: Path, bare_python3: Path
) -> None:
    scripts = sysconfig.get_path("scripts")  # this installation's `dstream` is there
    assert shutil.which("dstream", path=scripts), scripts
    done = _run(tmp_path, artifact, [str(bare_python3), scripts, *_system_path()])
    assert done.returncode == 0, done.stderr
    assert len(_envelopes(tmp_path)) == 3


def test_dstream_python_names_the_interpreter(
    tmp_path: Path, artifact: Path, bare_python3: Path
) -> None:
    """No `dstream` on PATH (a venv run by its full path): DSTREAM_PYTHON in the task's
    env map names the Python that has dstream."""
    done = _run(tmp_path, artifact, [str(bare_python3), *_system_path()], sys.executable)
    assert done.returncode == 0, done.stderr
    assert len(_envelopes(tmp_path)) == 3


def test_without_a_python_holding_dstream_it_says_so_in_one_line(
    tmp_path: Path, artifact: Path, bare_python3: Path
) -> None:
    done = _run(tmp_path, artifact, [str(bare_python3), *_system_path()])
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "cannot import dstream" in done.stderr, done.stderr
    assert "DSTREAM_PYTHON" in done.stderr, done.stderr
