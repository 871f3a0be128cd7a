"""A queue output whose client library is not installed (the `rabbitmq` or `servicebus`
extra not asked for) says so in every command, as `run` and `plan` do: one line naming
the extra to install. `init`/`destroy` said `ModuleNotFoundError`; Service Bus blamed its
connection string and, with no `tables`, even reported success having done nothing.

Each case runs in a real virtual environment without the extras (tests/cli/barevenv.py);
the brokers are never reached: the missing module is found first."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli import barevenv
from tests.workspace import Workspace

pytestmark = pytest.mark.timeout(300)

HOST = barevenv.host_distribution().metadata["Name"]

RABBITMQ = 'provider_path = "dstream-rabbitmq"\n config { url = "amqp://u:SECRETPW@127.0.0.1:1/" }'
SERVICEBUS = (
    'provider_path = "dstream-servicebus"\n config {\n{tables}'
    ' connection_string = "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;'
    'SharedAccessKey=SECRETKEY"\n }'
)
OUTPUTS = {
    "rabbitmq": ("rabbitmq", RABBITMQ),
    "servicebus": ("servicebus", SERVICEBUS.replace("{tables}", ' tables = ["dbo.Orders"]\n')),
    "servicebus, no tables": ("servicebus", SERVICEBUS.replace("{tables}", "")),
}
COMMANDS = [["init"], ["destroy", "--auto-approve"], ["plan"], ["status"]]


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    python = barevenv.make(tmp_path_factory.mktemp("venv") / "bare")
    barevenv.install_scripts(python)
    return barevenv.env_for(python)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_every_lifecycle_command_names_the_extra(
    ws: Workspace, bare: dict[str, str], output: str, command: list[str]
) -> None:
    extra, block = OUTPUTS[output]
    ws.config(
        'task "q" {\n  input {\n provider_path = "dstream-counter"\n }\n'
        f"  output {{\n {block}\n }}\n}}\n"
    )
    env = {**bare, **ws.env, "XDG_STATE_HOME": str(ws.root / "state"),
           "DSTREAM_CACHE_DIR": str(ws.root / "cache")}  # fmt: skip
    done = subprocess.run(
        ["dstream", command[0], "q", *command[1:]],
        cwd=ws.root, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert f"pip install '{HOST}[{extra}]'" in said, said
    assert "ModuleNotFoundError" not in said and "No module named" not in said, said
    assert "Traceback" not in said, said
    assert "connection_string" not in said, said  # nothing is wrong with it
    assert "successfully" not in said, said
    assert "SECRET" not in said, said


def test_the_bare_venv_has_no_queue_client(bare: dict[str, str]) -> None:
    python = Path(bare["PATH"].split(":")[0]) / "python"
    code = (
        "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in ('pika', 'azure')))"
    )
    assert subprocess.run([str(python), "-c", code], check=False).returncode == 0
