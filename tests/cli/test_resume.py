"""A checkpoint written under one input configuration is not resumed silently under
another (issue 19, Meltano's habit): `run` refuses with exit 2 and says how to go on,
`--reset-state` starts over, `--resume-changed` resumes anyway and says so."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from dstream.config.model import StateSpec
from dstream.state import open_store
from tests.cli import scenarios
from tests.services import PostgresServer
from tests.state.backends import BackendWorkspace, backend_ws
from tests.workspace import Workspace

__all__ = ["backend_ws"]  # a fixture


@pytest.fixture
def ws(backend_ws: Workspace) -> Workspace:
    """Every test here runs once per state backend: files, and a real PostgreSQL."""
    return backend_ws


def _change_input(ws: Workspace) -> None:
    path = ws.root / "dstream.hcl"
    path.write_text(path.read_text().replace("max_count = 10", "max_count = 20"))


def test_an_unchanged_input_resumes(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    assert ws.run("run", "t").returncode == 0
    again = ws.run("run", "t")
    assert again.returncode == 0, again.stderr
    assert "changed" not in again.stderr


def test_a_changed_input_is_refused_until_the_user_chooses(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    assert ws.run("run", "t").returncode == 0
    _change_input(ws)
    refused = ws.run("run", "t")
    assert refused.returncode == 2
    assert "the input's configuration changed since its checkpoint was stored" in refused.stderr
    # Where: the input block (only a digest of its configuration is kept, not the text).
    assert re.search(r"the input is defined at \S*dstream\.hcl:\d+:\d+", refused.stderr), (
        refused.stderr
    )
    assert "--reset-state" in refused.stderr and "--resume-changed" in refused.stderr
    assert len(ws.json_lines("out.jsonl")) == 10  # nothing ran

    resumed = ws.run("run", "t", "--resume-changed")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from it anyway (--resume-changed)" in resumed.stderr
    values = [r["data"]["value"] for r in ws.json_lines("out.jsonl")]
    assert values == list(range(1, 21))  # 11..20 continued from the checkpoint
    assert ws.run("run", "t").returncode == 0  # the new configuration is now the known one


def test_reset_state_accepts_a_changed_input(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    assert ws.run("run", "t").returncode == 0
    _change_input(ws)
    done = ws.run("run", "t", "--reset-state")
    assert done.returncode == 0, done.stderr
    values = [r["data"]["value"] for r in ws.json_lines("out.jsonl")]
    assert values == list(range(1, 11)) + list(range(1, 21))


def test_a_reload_says_so_and_remembers_the_changed_input(ws: Workspace) -> None:
    """SIGHUP restarts a task whose input changed from its checkpoint (what a reload is
    for), not silently; and the next `run` takes the checkpoints that input wrote."""
    scenarios.counter_file(ws, count=0, interval=5)
    log = ws.root / "run.log"
    with log.open("wb") as err:
        proc = ws.popen("run", "t", stderr=err)
    scenarios.wait_for(proc, ws, "out.jsonl")
    deadline = time.monotonic() + 60
    while not ws.run("state", "show", "t").stdout:  # a checkpoint to resume from
        assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
    path = ws.root / "dstream.hcl"
    changed = path.read_text().replace("interval = 5", "interval = 6")
    path.write_text(changed.replace("max_count = 0", "max_count = 400"))
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=60) == 0, log.read_text()  # the new input ends at 400
    text = log.read_text()
    assert "interval_ms=6" in text and "task t: its definition changed: restarting it" in text, text
    assert (
        "task t: the input's configuration changed since its checkpoint was stored; "
        "resuming from it anyway (SIGHUP reload)" in text
    )
    again = ws.run("run", "t")
    assert again.returncode == 0, again.stderr
    assert "changed" not in again.stderr


def test_a_run_refused_elsewhere_leaves_the_input_hash_alone(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    """Another host runs t (its lease is live); a run of t with another input here is
    refused (exit 1), and must not leave its input's digest behind: the running host's
    next run would be refused, or a changed input later taken for the known one."""
    ws = BackendWorkspace(tmp_path, "")
    spec = StateSpec(backend="postgres", dsn=pg_server.dsn, table="resume_elsewhere")
    ws.state_block = (
        f'state {{\n  backend = "postgres"\n  dsn = "{spec.dsn}"\n  table = "{spec.table}"\n}}'
    )
    scenarios.counter_file(ws)
    assert ws.run("run", "t").returncode == 0
    with open_store(spec, str(tmp_path)) as elsewhere, elsewhere.hold_run("t"):
        known = elsewhere.input_hash("t")
        _change_input(ws)
        refused = ws.run("run", "t", "--resume-changed")
        assert refused.returncode == 1, refused.stderr
        assert "already running" in refused.stderr
        assert elsewhere.input_hash("t") == known
