"""A `--standby` run of several tasks takes them all or none: while one is held elsewhere
it holds none of the others (a run elsewhere may take them), and two standbys of the
same tasks named in either order never hold one each, waiting for the other's for ever.
A reload (SIGHUP) while it waits is applied at once: a task removed is waited for no
more (all removed: it ends, exit 0), a changed one runs as now defined. Both state
backends; the other holder is a store of this process (another run, to the CLI)."""

from __future__ import annotations

import re
import signal

import orjson
import pytest

from dstream.errors import ExitCode
from tests.cli.standby_hosts import Elsewhere, HostRun, Hosts
from tests.scale.cluster import WAITING, counter
from tests.services import wait_until

pytestmark = pytest.mark.timeout(180)


def test_a_standby_of_several_tasks_holds_none_while_one_is_held_elsewhere(
    hosts: Hosts, elsewhere: Elsewhere
) -> None:
    ws = hosts.workspace("a", counter("t1"), counter("t4"))
    assert elsewhere.hold("t4")
    standby = hosts.run(ws, "t1", "t4", "--standby")
    wait_until("the standby to wait", lambda: standby.says(WAITING))
    assert "task 't4' is already running" in standby.stderr()
    # t1 is free: another run takes it (the standby held it for ever, and ran nothing).
    wait_until("t1 to be free for another run", lambda: elsewhere.hold("t1"))
    assert not standby.started_any("t1", "t4")
    elsewhere.release("t1")
    elsewhere.release("t4")
    wait_until("the standby to stream both tasks", lambda: standby.streams("t1", "t4"))
    standby.signal()
    assert standby.wait() == ExitCode.TERMINATED, standby.stderr()


def test_two_standbys_of_the_same_tasks_in_either_order_never_deadlock(
    hosts: Hosts, elsewhere: Elsewhere
) -> None:
    tasks = (counter("t1"), counter("t4"))
    a = hosts.run(hosts.workspace("a", *tasks), "t1", "t4", "--standby")
    b = hosts.run(hosts.workspace("b", *tasks), "t4", "t1", "--standby")
    assert elsewhere.hold("t1") and elsewhere.hold("t4")
    wait_until("both standbys to wait", lambda: a.says(WAITING) and b.says(WAITING))
    # t4 free first: b, which names it first, could take it and wait for t1 (and a, once
    # t1 is free, take t1 and wait for t4: for ever). It waits for t1 holding nothing.
    elsewhere.release("t4")
    wait_until("b to wait for t1", lambda: b.says("task 't1' is already running"))
    elsewhere.release("t1")
    wait_until(
        "one standby to stream both tasks", lambda: a.streams("t1", "t4") or b.streams("t1", "t4")
    )
    winner, other = (a, b) if a.streams("t1", "t4") else (b, a)
    assert not other.started_any("t1", "t4"), other.stderr()
    winner.signal()
    assert winner.wait() == ExitCode.TERMINATED, winner.stderr()
    wait_until("the other to take both over", lambda: other.streams("t1", "t4"))
    other.signal()
    assert other.wait() == ExitCode.TERMINATED, other.stderr()


def _waits_for_t4(
    hosts: Hosts, elsewhere: Elsewhere, *tasks: str, args: tuple[str, ...]
) -> HostRun:
    assert elsewhere.hold("t4")
    standby = hosts.run(hosts.workspace("a", *tasks), *args, "--standby")
    wait_until("the standby to wait for t4", lambda: standby.says(WAITING))
    return standby


def test_a_reload_removing_every_task_a_standby_waits_for_ends_it(
    hosts: Hosts, elsewhere: Elsewhere
) -> None:
    standby = _waits_for_t4(hosts, elsewhere, counter("t1"), counter("t4"), args=("t4", "--json"))
    hosts.configure(standby.ws, counter("t1"))  # t4 is gone
    standby.signal(signal.SIGHUP)
    assert standby.wait() == 0, standby.stderr()
    text = standby.stderr()
    assert "task t4: gone from the configuration: no longer waiting for it" in text
    assert "nothing to run" in text
    [t4] = orjson.loads(standby.ws.read_text("stdout"))["tasks"]
    assert (t4["task"], t4["outcome"], t4["attempts"], t4["exit_code"]) == ("t4", "removed", 0, 0)
    assert "it never ran" in t4["notes"][0]
    assert not standby.started_any("t4")
    elsewhere.release("t4")


def test_a_reload_removing_one_task_runs_the_others(hosts: Hosts, elsewhere: Elsewhere) -> None:
    standby = _waits_for_t4(
        hosts, elsewhere, counter("t1", max_count=10), counter("t4"), args=("t1", "t4")
    )
    hosts.configure(standby.ws, counter("t1", max_count=10))
    standby.signal(signal.SIGHUP)
    # t4 held elsewhere no longer matters: t1 is taken, and completes.
    assert standby.wait() == 0, standby.stderr()
    text = standby.stderr()
    assert (
        "task t4: removed from the configuration by a reload (SIGHUP) while the run "
        "waited to take it over: it never ran" in text
    ), text
    assert "task t1: completed" in text
    assert len(standby.ws.read_text("out_t1.jsonl").splitlines()) == 10
    assert not standby.started_any("t4")
    elsewhere.release("t4")


def test_a_removed_task_s_line_is_a_record_of_it(hosts: Hosts, elsewhere: Elsewhere) -> None:
    """With -f json the line of a task a reload removed before it ran is a record of
    that task: the task a field, not a `task t4: ` its message starts with."""
    standby = _waits_for_t4(
        hosts,
        elsewhere,
        counter("t1", max_count=10),
        counter("t4"),
        args=("t1", "t4", "-f", "json"),
    )
    hosts.configure(standby.ws, counter("t1", max_count=10))
    standby.signal(signal.SIGHUP)
    assert standby.wait() == 0, standby.stderr()
    records = [orjson.loads(line) for line in standby.stderr().splitlines()]
    (removed,) = [r for r in records if "summary" in r and r["task"] == "t4"]
    assert removed["msg"].startswith("removed from the configuration by a reload"), removed
    assert not [r for r in records if re.match(r"task t\d: ", r["msg"])], records
    elsewhere.release("t4")


def test_a_task_changed_while_waiting_runs_as_now_defined(
    hosts: Hosts, elsewhere: Elsewhere
) -> None:
    standby = _waits_for_t4(
        hosts, elsewhere, counter("t4", max_count=10, out="old.jsonl"), args=("t4",)
    )
    hosts.configure(standby.ws, counter("t4", max_count=10, out="new.jsonl"))
    standby.signal(signal.SIGHUP)
    wait_until("the reload to be applied", lambda: standby.says("task t4: its definition changed"))
    elsewhere.release("t4")
    assert standby.wait() == 0, standby.stderr()
    assert len(standby.ws.read_text("new.jsonl").splitlines()) == 10
    assert not (standby.ws.root / "old.jsonl").exists()
