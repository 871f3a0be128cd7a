"""What a `--standby` run stopped while it waited records in the history (`dstream runs`):
each of its tasks as `interrupted`, by the main thread (runtime/runner.py), with an
append that is not fenced (runtime/history.py). A task it took and gave back while
another was held elsewhere (runtime/taking.py, take_each) is recorded too: its lease is
given up, which refuses a fenced write, not the history's append. A second signal cuts
such a record waiting on a silent database, and says the run may be missing."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Callable

import pytest

from dstream.errors import ExitCode
from tests.relay import FreezableProxy
from tests.scale.cluster import (
    TASK,
    Database,
    Hosts,
    config,
    counter,
    deliver,
    ends_while_silent,
    held_by,
    holder_and_standby,
    project,
    released,
    waiting,
)
from tests.services import PostgresServer, wait_until
from tests.workspace import task_runs

# The text of the history's append (state/history.py, RunTable.add): the proxy freezes
# on it, so the record, not the standby's poll, is what waits on the silence.
RUN_INSERT = b'_runs" (task, run) VALUES'


def _last_run(root: Path, task: str) -> tuple[str, int]:
    history = task_runs(root, task)
    return history[-1]["result"], history[-1]["exit_code"]


@pytest.mark.timeout(120)
def test_a_standby_stopped_after_giving_a_task_back_records_it_interrupted(
    pg_server: PostgresServer, table: str, database: Callable[..., Database], hosts: Hosts
) -> None:
    text = project(pg_server.dsn, table, counter("a"), counter("b"))
    holder, standby = hosts("holder", text), hosts("standby", text)
    a, b = database(pg_server.dsn, "a"), database(pg_server.dsn, "b")
    holder.start("run", "b", "--json")
    wait_until("the holder to take b", lambda: held_by(b, holder))
    standby.start("run", "a", "b", "--standby", "--json")
    wait_until("the standby to wait", lambda: waiting(standby))
    # It took a (first in name order), found b held and gave a back.
    assert released(a), a.lease()
    standby.signal(signal.SIGTERM)
    assert standby.wait() == ExitCode.TERMINATED, standby.stderr()
    assert "history" not in standby.stderr(), standby.stderr()
    assert _last_run(standby.root, "a") == ("interrupted", 143)
    assert _last_run(standby.root, "b") == ("interrupted", 143)
    assert held_by(b, holder)


@pytest.mark.timeout(120)
def test_a_second_signal_cuts_the_record_of_a_stopped_standby(
    pg_server: PostgresServer, table: str, db: Database, proxy: FreezableProxy, hosts: Hosts
) -> None:
    holder = hosts("holder", config(pg_server.dsn, table, 6, 1))
    standby = hosts("standby", config(proxy.dsn(), table, 6, 1))
    holder_and_standby(db, holder, standby)
    proxy.freeze(on=RUN_INSERT)
    deliver(standby, signal.SIGTERM)
    wait_until("the history's record to wait on the proxy", proxy.holding)
    assert ends_while_silent(standby, proxy, (signal.SIGTERM,)) == ExitCode.TERMINATED
    said = standby.stderr()
    missing = f"task {TASK}: the run may be missing from the history: the stop was forced "
    assert missing + "while it was being recorded" in said, said
    assert held_by(db, holder)
