"""A standby waiting for its task while the state database stalls longer than one cut
call plus one connect (session.statement_bound, connect_bound) waits on: it
logs the stall once, keeps polling, and takes over once the database answers again and
the task is free. Before, the poll's StateUnreachable ended it: exit 1 while the holder
still streamed, and nothing stood by any more."""

from __future__ import annotations

import signal
import time
from typing import Callable

import pytest

from dstream.errors import ExitCode
from dstream.state.session import connect_bound, statement_bound
from tests.relay import FreezableProxy
from tests.scale.cluster import WAITING, Database, Hosts, config, held_by, waiting
from tests.services import PostgresServer, wait_until

TTL = 6.0
# Two polls cut by the stall (each: its call cut, then a new session's connect)
# and some: long enough that the first poll cut ended the run before.
STALL = 2 * (statement_bound(TTL) + connect_bound(TTL)) + 1.0
STALLED = "the state database does not answer"


@pytest.mark.timeout(180)
def test_a_standby_waits_through_a_database_stall(
    pg_server: PostgresServer,
    proxy: FreezableProxy,
    hosts: Hosts,
    table: str,
    database: Callable[..., Database],
) -> None:
    holder = hosts("holder", config(pg_server.dsn, table, TTL, 1))
    standby = hosts("standby", config(proxy.dsn(), table, TTL, 1))
    db = database(pg_server.dsn)
    holder.run_standby()
    wait_until("the holder to take the lease", db.lease)
    standby.run_standby()
    wait_until("the standby to wait", lambda: waiting(standby))
    proxy.freeze()
    wait_until("a poll of the standby to hang", proxy.holding)
    time.sleep(STALL)  # the stall's length, not a bound on dstream
    assert standby.proc is not None and standby.proc.poll() is None, standby.stderr()
    proxy.thaw()
    holder.signal(signal.SIGKILL)  # its lease runs out within the TTL
    wait_until("the standby to take over", lambda: held_by(db, standby))
    stderr = standby.stderr()
    assert stderr.count(STALLED) == 1, stderr
    assert stderr.count(WAITING) == 1, stderr
    standby.signal(signal.SIGTERM)
    assert standby.wait() == ExitCode.TERMINATED, standby.stderr()
