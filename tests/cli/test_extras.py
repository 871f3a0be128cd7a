"""A feature whose extra is not installed ends in one line that names the extra to
install (`pip install 'dstream-io[postgres]'`), never a traceback (issue 19, point 4);
an installation that lost a required package says which and how to repair it.

Each case runs in a real virtual environment without the extras (tests/cli/barevenv.py:
`python -m venv` without system site packages; dstream's required dependencies only,
linked from this interpreter's site-packages rather than downloaded). The services the
features would talk to are never reached: the missing module is found first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dstream.extras import EXTRAS, REQUIRED, install_command, reinstall_command
from tests.cli import barevenv
from tests.workspace import CliResult, Workspace

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    python = barevenv.make(tmp_path_factory.mktemp("venv") / "bare")
    barevenv.install_scripts(python)
    return barevenv.env_for(python)


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


def test_the_bare_venv_really_lacks_the_extras(bare: dict[str, str]) -> None:
    """The venv is what a plain `pip install dstream-io` gives: no extra is importable."""
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
    assert f"hint: {reinstall_command()}" in done.stderr, done.stderr
