"""A feature whose extra is not installed ends in one line that names the extra to
install (`pip install 'dstream[postgres]'`, with the name of the distribution installed:
`dstream-io` for the PyPI wheel), never a traceback (issue 19, point 4); an installation
that lost a required package says which and how to repair it.

Each case runs in a real virtual environment without the extras (tests/cli/barevenv.py:
`python -m venv` without system site packages; dstream's required dependencies only,
linked from this interpreter's site-packages rather than downloaded). The services the
features would talk to are never reached: the missing module is found first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dstream.extras import EXTRAS, REQUIRED
from tests.cli import barevenv
from tests.workspace import CliResult, Workspace

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]


# The distribution the bare venv's dstream is (this interpreter's: `dstream` as built
# from this repository, `dstream-io` in the release workflow's wheel tests).
HOST = barevenv.host_distribution().metadata["Name"]


def install_command(extra: str, distribution: str = HOST) -> str:
    return f"pip install '{distribution}[{extra}]'"


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    python = barevenv.make(tmp_path_factory.mktemp("venv") / "bare")
    barevenv.install_scripts(python)
    return barevenv.env_for(python)


# The names a user's installation has: built from this repository, or the PyPI wheel.
@pytest.fixture(scope="module", params=["dstream", "dstream-io"])
def named(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict[str, str]]:
    """A bare venv whose dstream distribution has this name (release.yml's sed)."""
    name: str = request.param
    python = barevenv.make(tmp_path_factory.mktemp("venv") / name, distribution=name)
    barevenv.install_scripts(python)
    return name, barevenv.env_for(python)


def _run(ws: Workspace, env: dict[str, str], *args: str) -> CliResult:
    """The bare venv's `dstream` (its console script, first on PATH)."""
    done = subprocess.run(
        ["dstream", *args], cwd=ws.root, env=env, capture_output=True, timeout=120, check=False
    )
    return CliResult(done.args, done.returncode, done.stdout, done.stderr)


def _task(ws: Workspace, input_: str, output: str) -> None:
    ws.config(f'task "t" {{\n  input {{\n{input_}\n}}\n  output {{\n{output}\n}}\n}}\n')


COUNTER = 'provider_path = "dstream-counter"\nconfig {\n max_count = 3\n}'
NULL = 'provider_path = "dstream-null"'

# extra -> (input block, output block, extra dstream arguments, expected exit code)
CASES = {
    "metrics": (COUNTER, NULL, ["--metrics-addr", "127.0.0.1:0"], 2),
    "docker": ('provider_image = "alpine:3"', NULL, [], 2),
    "postgres": (
        'provider_path = "dstream-postgres-cdc"\nconfig {\n dsn = "postgresql://127.0.0.1:1/x"\n'
        ' tables = ["public.t"]\n}',
        NULL,
        [],
        1,  # the provider refused: the run failed
    ),
    "mssql": (
        'provider_path = "dstream-mssql-cdc"\nconfig {\n'
        ' connection_string = "server=127.0.0.1,1;user id=sa;password=x;database=d"\n'
        ' tables = ["dbo.t"]\n}',
        NULL,
        [],
        1,
    ),
    "servicebus": (
        COUNTER,
        'provider_path = "dstream-servicebus"\nconfig {\n'
        ' connection_string = "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=a;SharedAccessKey=b"\n}',
        [],
        1,
    ),
    "rabbitmq": (
        COUNTER,
        'provider_path = "dstream-rabbitmq"\nconfig {\n url = "amqp://127.0.0.1:1"\n}',
        [],
        1,
    ),
}


@pytest.mark.parametrize("extra", sorted(CASES))
def test_a_missing_extra_is_one_line_naming_it(
    ws: Workspace, bare: dict[str, str], extra: str
) -> None:
    input_, output, args, code = CASES[extra]
    _task(ws, input_, output)
    done = _run(ws, bare, "run", "t", *args)
    assert "No module named" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == code, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert errors[0].endswith(install_command(extra)), errors[0]
    assert done.stderr.count(install_command(extra)) <= 2, done.stderr  # log + error block


def test_the_postgres_state_backend_names_its_extra(ws: Workspace, bare: dict[str, str]) -> None:
    ws.config('state {\n  backend = "postgres"\n  dsn = "postgresql://127.0.0.1:1/x"\n}\n')
    done = _run(ws, bare, "state", "list")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"hint: {install_command('postgres')}" in done.stderr


def test_the_hints_name_the_distribution_installed(
    ws: Workspace, named: tuple[str, dict[str, str]]
) -> None:
    """`pip install 'dstream-io[postgres]'` fails where dstream was installed as
    `dstream` (from a checkout, a wheel built here, a release asset): the hint names the
    one installed, which pip then finds and only adds the extra's packages to."""
    name, env = named
    ws.config('state {\n  backend = "postgres"\n  dsn = "postgresql://127.0.0.1:1/x"\n}\n')
    done = _run(ws, env, "state", "list")
    assert done.returncode == 2, done.stderr
    assert f"hint: {install_command('postgres', name)}" in done.stderr, done.stderr
    refused = subprocess.run(
        ["dstream-postgres-cdc"],
        input=b'{"command":"run","config":{"dsn":"postgresql://127.0.0.1:1/x","tables":["t"]}}\n',
        env=env, cwd=ws.root, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert install_command("postgres", name).encode() in refused.stderr, refused.stderr


def test_the_version_is_the_installed_distributions(named: tuple[str, dict[str, str]]) -> None:
    """The PyPI wheel (`dstream-io`) reported `0+unknown`: the version is read from the
    distribution that installed the package, whatever its name."""
    _, env = named
    version = barevenv.host_distribution().version
    done = subprocess.run(
        ["dstream", "--version"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["dstream", version], done.stdout


def test_a_new_provider_depends_on_the_distribution_installed(
    ws: Workspace, named: tuple[str, dict[str, str]]
) -> None:
    """`dstream provider new` writes a project that depends on dstream: by the name pip
    knows this installation as, which it then finds installed (`dstream` on PyPI is
    another project)."""
    name, env = named
    done = _run(ws, env, "provider", "new", "dep-check", "--role", "output")
    assert done.returncode == 0, done.stderr
    pyproject = tomllib.loads((ws.root / "dep-check" / "pyproject.toml").read_text())
    version = barevenv.host_distribution().version
    assert pyproject["project"]["dependencies"] == [f"{name}>={version}"]


def test_the_builtins_are_described_by_their_class_under_either_name(
    ws: Workspace, named: tuple[str, dict[str, str]]
) -> None:
    """A built-in provider is described from its class, in-process: never started as a
    probe, as an executable of unknown origin is. Under `dstream-io` it was probed."""
    name, env = named
    bin_dir = Path(env["PATH"].split(":")[0])
    started = ws.root / "started"
    script = bin_dir / "dstream-null"
    real = script.read_text()
    shebang, rest = real.split("\n", 1)
    script.write_text(  # leaves a line in `started` whenever it runs
        f"{shebang}\nopen({str(started)!r}, 'a').write('started\\n')\n{rest}"
    )
    try:
        _task(ws, COUNTER, NULL)
        ws.env["DSTREAM_CACHE_DIR"] = str(ws.root / "cache")
        done = _run(ws, {**env, **ws.env}, "lint")
    finally:
        script.write_text(real)  # the venv serves the module's other tests
    assert done.returncode == 0, done.stderr
    assert not started.exists(), f"{name}: dstream-null was started to describe it"


def test_without_metadata_no_hint_names_a_distribution(
    ws: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """dstream run from a source tree (no installed metadata): no distribution can be
    named that pip would find installed, and `pip install 'dstream[...]'` would fetch the
    unrelated PyPI project. The hint says what to do instead; the version is unknown."""
    where = tmp_path_factory.mktemp("venv") / "nometa"
    python = barevenv.make(where, frozenset({"shtab"}), metadata=False)
    barevenv.install_scripts(python)
    env = barevenv.env_for(python)
    ws.config('state {\n  backend = "postgres"\n  dsn = "postgresql://127.0.0.1:1/x"\n}\n')
    done = _run(ws, env, "state", "list")
    assert done.returncode == 2, done.stderr
    assert "hint: install dstream again with its 'postgres' extra" in done.stderr, done.stderr
    assert "pip install" not in done.stderr, done.stderr
    lost = _run(ws, env, "completion", "bash")
    assert lost.returncode == 2, lost.stderr
    assert "hint: pip install 'shtab'" in lost.stderr, lost.stderr
    version = subprocess.run([str(python), "-c", "import dstream; print(dstream.__version__)"],
                             capture_output=True, text=True, check=True)  # fmt: skip
    assert version.stdout.strip() == "0+unknown"


def test_the_bare_venv_really_lacks_the_extras(bare: dict[str, str]) -> None:
    """The venv is what a plain `pip install dstream` gives: no extra is importable."""
    modules = [m for modules, _ in EXTRAS.values() for m in modules]
    code = "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in sys.argv[1:]))"
    python = bare["PATH"].split(":")[0] + "/python"
    assert subprocess.run([python, "-c", code, *modules], check=False).returncode == 0
    assert subprocess.run([python, "-c", "import dstream.cli.app"], check=False).returncode == 0


def test_every_extra_named_exists_in_pyproject() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(EXTRAS) <= set(extras)


def test_every_required_package_is_in_pyproject() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert set(REQUIRED) == {barevenv.requirement_name(d) for d in dependencies}


def test_a_missing_required_package_is_one_line_not_a_crash(
    ws: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An installation that lost python-hcl2 (a half-finished upgrade, a stray `pip
    uninstall`) says so and how to repair it; it is no bug of dstream's to report."""
    python = barevenv.make(tmp_path_factory.mktemp("venv") / "broken", frozenset({"python-hcl2"}))
    barevenv.install_scripts(python)
    _task(ws, COUNTER, NULL)  # a new file: the parse cache cannot answer, hcl2 must
    ws.env["DSTREAM_CACHE_DIR"] = str(ws.root / "cache")
    done = _run(ws, {**barevenv.env_for(python), **ws.env}, "run", "t")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "crash" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "python-hcl2" in errors[0], errors[0]
    # The package lost, as dstream requires it: never the dstream distribution by name,
    # which pip would fetch from PyPI, where `dstream` is an unrelated project.
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    requirement = next(d for d in declared if barevenv.requirement_name(d) == "python-hcl2")
    assert f"hint: pip install '{requirement}'" in done.stderr, done.stderr
