"""Every file in examples/ passes lint, and those that need no outside service run to
the end as their header says (issue 19.5: a shipped example that does not run).
counter-rabbitmq.hcl runs in tests/queues/test_examples.py against a real RabbitMQ;
mssql-servicebus.hcl needs SQL Server and Azure Service Bus, which cannot run here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.workspace import Workspace

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# What the examples' headers say to export (values that only have to be well-formed).
SECRETS = {
    "DSTREAM_VAR_api_token": "secret",
    "MSSQL_CONNECTION_STRING": "sqlserver://user:pass@127.0.0.1:1/shop",
    "SERVICEBUS_CONNECTION_STRING": "Endpoint=sb://x.servicebus.windows.net/;"
    "SharedAccessKeyName=dstream;SharedAccessKey=k",
}


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.hcl")))
def test_every_example_lints(ws: Workspace, name: str) -> None:
    shutil.copy(EXAMPLES / name, ws.root / name)
    done = ws.run("lint", "-c", name, env=SECRETS)
    assert done.returncode == 0, done.stderr


def test_the_locals_example_runs(ws: Workspace) -> None:
    shutil.copy(EXAMPLES / "locals.hcl", ws.root / "locals.hcl")
    done = ws.run("run", "-c", "locals.hcl", env=SECRETS)
    assert done.returncode == 0, done.stderr
    assert len(ws.json_lines("out/shop/public.orders.jsonl")) == 250
    assert len(ws.json_lines("out/shop/public.customers.jsonl")) == 250
    shown = ws.run("show", "orders", "-c", "locals.hcl", env=SECRETS)
    assert "secret" not in shown.stdout
