"""Providers learn the run's lease epoch (DSTREAM_EPOCH), a fencing token that grows
with every new holder of the task, so outputs that can fence may do so."""

from __future__ import annotations

from pathlib import Path

from tests.providers import SHELL_OUTPUT
from tests.services import PostgresServer
from tests.workspace import Workspace

# SHELL_OUTPUT, noting its DSTREAM_EPOCH first.
EPOCH_OUTPUT = SHELL_OUTPUT.replace(
    "read -r command\n", 'read -r command\necho "${DSTREAM_EPOCH:-none}" >> epochs.txt\n', 1
)


def test_each_run_passes_a_greater_epoch_to_its_providers(
    pg_server: PostgresServer, table: str, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path)
    ws.script("output.sh", EPOCH_OUTPUT)
    state = f'state {{\n  backend = "postgres"\n  dsn = "{pg_server.dsn}"\n  table = "{table}"\n}}'
    ws.counter_task("t", "./output.sh", count=3, checkpoint_every=1, state=state)
    for _ in range(2):
        done = ws.run("run", "t")
        assert done.returncode == 0, done.stderr
    assert ws.read_text("epochs.txt").split() == ["1", "2"]
