"""`run --reset-state` forgets a task's checkpoint only once the run holds the task (its
run lock, or its lease): a run refused because another run holds it changes nothing,
and a `--standby` run resets only when it has taken over, never the checkpoint of the
run it waits for. Both state backends; the other holder is a store of this process
(another dstream process, or another host, to the CLI under test)."""

from __future__ import annotations

import pytest

from dstream.state import StateStore
from tests.cli.standby_hosts import Elsewhere, Hosts
from tests.scale.cluster import WAITING, counter
from tests.services import wait_until
from tests.workspace import Workspace

pytestmark = pytest.mark.timeout(180)

FORGOTTEN = "task t: stored checkpoint forgotten (--reset-state)"


def _stored(store: StateStore) -> tuple[bytes, int]:
    record = store.get("t")
    assert record is not None, "no checkpoint stored"
    return record.raw, record.sequence


def _ran_then_held(hosts: Hosts, elsewhere: Elsewhere) -> tuple[Workspace, tuple[bytes, int]]:
    """Task t ran once (10 envelopes into out.jsonl, its checkpoint stored), then another
    run took it: its workspace, and the checkpoint stored."""
    ws = hosts.workspace("a", counter("t", max_count=10, out="out.jsonl"))
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    assert elsewhere.hold("t")
    return ws, _stored(elsewhere.store)


def _values(ws: Workspace) -> list[int]:
    return [r["data"]["value"] for r in ws.json_lines("out.jsonl")]


def test_a_reset_refused_because_another_run_holds_the_task_forgets_nothing(
    hosts: Hosts, elsewhere: Elsewhere
) -> None:
    ws, before = _ran_then_held(hosts, elsewhere)
    refused = ws.run("run", "t", "--reset-state")
    assert refused.returncode == 1, refused.stderr
    assert "task 't' is already running" in refused.stderr
    assert "forgotten" not in refused.stderr and "to forget" not in refused.stderr
    assert _stored(elsewhere.store) == before  # the holder's position is still there
    elsewhere.release("t")
    assert _values(ws) == list(range(1, 11))  # nothing ran

    done = ws.run("run", "t", "--reset-state")  # free now: the reset is done
    assert done.returncode == 0, done.stderr
    assert FORGOTTEN in done.stderr
    assert _values(ws) == list(range(1, 11)) * 2


def test_a_standby_reset_waits_for_the_task_before_forgetting_its_checkpoint(
    hosts: Hosts, elsewhere: Elsewhere
) -> None:
    ws, before = _ran_then_held(hosts, elsewhere)
    standby = hosts.run(ws, "t", "--standby", "--reset-state")
    wait_until("the standby to wait for the task", lambda: standby.says(WAITING))
    # Waiting, it has not touched the checkpoint of the run it waits for.
    assert "forgotten" not in standby.stderr()
    assert _stored(elsewhere.store) == before
    # Released: the standby takes over, forgets the checkpoint and starts over.
    elsewhere.release("t")
    assert standby.wait() == 0, standby.stderr()
    text = standby.stderr()
    assert FORGOTTEN in text
    assert text.index(WAITING) < text.index("forgotten")
    assert _values(ws) == list(range(1, 11)) * 2
