"""A `--standby` run of several tasks, one of them held elsewhere, polls by reading that
task's lease (runtime/taking.py `still_blocked`, `PostgresStore.held_elsewhere`) rather
than taking and giving back the others. When its database goes silent in that read (a
proxy that forwards nothing, every socket open: tests/relay.py), the process still logs
its progress lines (another thread) and a SIGTERM ends it, with 143, while the database
stays silent. Real processes: the holder runs directly on the session's PostgreSQL, the
standby through the proxy (tests/scale/cluster.py's hosts).

A stop that comes while that read waits is the end of the poll: no take-over try
follows it (one did, and on a silent database waited out its own cut and connect timeout
before the stop was seen)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from dstream.errors import ExitCode
from tests.relay import LEASE_READ, FreezableProxy, RecordingProxy
from tests.scale.cluster import (
    Database,
    Host,
    counter,
    deliver,
    ends_while_silent,
    held_by,
    project,
    waiting,
)  # fmt: skip
from tests.services import PostgresServer, table_for, wait_until

TTL = 6.0  # a call cut after 2 s, a connect timeout of 2 s: the test waits less
# The proxy freezes on the lease read `held_elsewhere` makes (LEASE_READ), so the poll,
# not a take-over, is what waits on the silence.
# PostgreSQL protocol messages a client sends (protocol 3): a transaction's start (a
# take-over's first exchange), a new session's first message (libpq asks for TLS first),
# and a session's end.
BEGIN = b"Q\x00\x00\x00\nBEGIN\x00"
SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"
TERMINATE = b"X\x00\x00\x00\x04"
# What the standby's progress log says of a task while it waits (runtime/progress.py).
PROGRESS = "task t1: standby, waiting for the run that holds the task"


@pytest.fixture
def pair(
    pg_server: PostgresServer,
    proxy: FreezableProxy,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[tuple[Host, Host, Database]]:
    """The holder of t4 (directly on PostgreSQL), a standby of t1 and t4 (through the
    proxy), and t4's lease read directly. At teardown the proxy is closed (thawed) first,
    so that neither process is left waiting on it, then both are stopped."""
    table = table_for(request, "standby_")
    tasks = (counter("t1"), counter("t4"))
    holder = Host(tmp_path, "holder", project(pg_server.dsn, table, *tasks, ttl=TTL))
    standby = Host(tmp_path, "standby", project(proxy.dsn(), table, *tasks, ttl=TTL))
    with contextlib.closing(Database(pg_server.dsn, table, "t4")) as db:
        try:
            yield holder, standby, db
        finally:
            proxy.close()
            standby.stop()
            holder.stop()


@pytest.mark.timeout(180)
def test_a_standby_whose_poll_waits_on_a_silent_database_logs_progress_and_ends_on_sigterm(
    proxy: FreezableProxy, pair: tuple[Host, Host, Database]
) -> None:
    holder, standby, db = pair
    holder.start("run", "t4", "--json")
    wait_until("the holder to hold t4", lambda: held_by(db, holder))
    standby.start("run", "t1", "t4", "--standby", "--json", "--progress-interval", "0.2")
    wait_until("the standby to wait for t4", lambda: waiting(standby))
    assert "task 't4' is already running" in standby.stderr()
    proxy.freeze(on=LEASE_READ)
    wait_until("a poll's read of t4's lease to wait on the proxy", proxy.holding)
    before = standby.stderr().count(PROGRESS)
    wait_until(
        "a progress line while the poll waits", lambda: standby.stderr().count(PROGRESS) > before
    )
    assert ends_while_silent(standby, proxy, (signal.SIGTERM,)) == ExitCode.TERMINATED
    summary = {task["task"]: task for task in standby.summary()["tasks"]}
    assert {name: task["outcome"] for name, task in summary.items()} == {
        "t1": "interrupted",
        "t4": "interrupted",
    }, summary
    assert not (standby.root / "out_t1.jsonl").exists()  # it ran nothing
    assert held_by(db, holder)  # the holder's lease is untouched


@pytest.mark.timeout(180)
def test_a_standby_stopped_while_its_poll_waits_asks_the_database_nothing_more(
    proxy: RecordingProxy, pair: tuple[Host, Host, Database]
) -> None:
    """From the signal on, the standby asks the silent database nothing: the read in
    flight is cut, and its "not known" is no reason to try to take the tasks of a run
    that is stopping (that try, a BEGIN, cut, then a new session's connect timeout,
    waits 10 s with the default lease before the stop is seen). Its sessions' ends
    (Terminate) may pass."""
    holder, standby, db = pair
    holder.start("run", "t4", "--json")
    wait_until("the holder to hold t4", lambda: held_by(db, holder))
    standby.start("run", "t1", "t4", "--standby", "--json")
    wait_until("the standby to wait for t4", lambda: waiting(standby))
    proxy.freeze(on=LEASE_READ)
    wait_until("a poll's read of t4's lease to wait on the proxy", proxy.holding)
    deliver(standby, signal.SIGTERM)
    before = proxy.sent()
    since_read = before[before.rindex(LEASE_READ) :]
    # Else the read was cut before the signal was taken (a host stalled for the whole
    # cut): what followed it came before the stop.
    assert BEGIN not in since_read and SSL_REQUEST not in since_read, "signalled too late"
    assert ends_while_silent(standby, proxy, ()) == ExitCode.TERMINATED
    after = proxy.sent()[len(before) :]
    assert after.replace(TERMINATE, b"") == b"", f"asked after the stop: {after!r}"
