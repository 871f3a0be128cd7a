"""dstream's own log lines about one task carry it as a field of their JSON record, as a
provider's lines do (a log shipper selects by it), and name it in words in a text line:
`task T: ...` (logs.py)."""

from __future__ import annotations

import orjson

from tests.cli import scenarios
from tests.workspace import Workspace


def test_a_task_s_own_log_record_carries_its_task(ws: Workspace) -> None:
    scenarios.failing_input(ws, restart="restart {\n attempts = 2\n backoff = 0.01\n}")
    done = ws.run("run", "t", "-f", "json")
    records = [orjson.loads(line) for line in done.stderr.splitlines() if line.strip()]
    restarting = [r for r in records if "restarting in" in r.get("msg", "")]
    assert restarting and restarting[0]["task"] == "t", records
    assert not restarting[0]["msg"].startswith("task t"), restarting  # the field says it
    text = ws.run("run", "t").stderr
    assert "dstream: [warning] task t: " in text and "restarting in" in text, text
