"""A state database that stops answering on an established connection: a blackholed
network (a proxy that forwards nothing and keeps its sockets open, as a frozen VM or
a hung pooler would) or a stalled server.

- No call waits for ever: every exchange on a session is cut after
  session.statement_bound (the peer's kernel still acknowledges, so no TCP timer
  fires). What that means for a standby or an agent told to stop while cut off:
  test_silent_database.py.
- A take-over answered past the local deadline of the lease it took (the standby's
  network stalled while the holder's lease ran out) is not run on: rolled back, and
  taken again at once. Before, the standby started its providers on it and failed at
  once (`lease deadline passed locally`), exit 1.
"""

from __future__ import annotations

import signal
import time
from typing import Callable

import pytest

from dstream.errors import ExitCode
from dstream.state.lease import LeaseSettings
from dstream.state.postgres import PostgresStore
from dstream.state.session import StateUnreachable, statement_bound
from tests.relay import FreezableProxy
from tests.scale.cluster import (
    SETTINGS,
    TAKE_OVER,
    Database,
    Hosts,
    config,
    released,
    streaming,
    waiting,
)
from tests.services import PostgresServer, wait_until


def test_a_call_on_a_blackholed_session_is_cut_after_its_bound(
    proxy: FreezableProxy, table: str
) -> None:
    """In process: a checkpoint write and a take-over on a frozen network raise
    StateUnreachable (the store's patience, then the keeper's retry, each bounded)
    instead of waiting for the thaw."""
    store = PostgresStore(proxy.dsn(), table, lease=SETTINGS, owner="cut-off")
    try:
        proxy.freeze()
        with pytest.raises(StateUnreachable) as cut:
            store.put("x", {"seq": 1})
        assert f"within {statement_bound(SETTINGS.ttl):g}s" in cut.value.reason
        with pytest.raises(StateUnreachable):
            store.try_hold("x")
    finally:
        proxy.thaw()
        store.close()


# -- a take-over answered late ------------------------------------------------------------
TTL = 3.0
RENEW = 0.5


@pytest.mark.timeout(180)
def test_a_take_over_answered_past_its_deadline_is_not_run_on(
    pg_server: PostgresServer,
    proxy: FreezableProxy,
    table: str,
    database: Callable[..., Database],
    hosts: Hosts,
) -> None:
    """The holder dies while the standby's take-over is held in a frozen network; the
    network comes back (its connections reset) once the holder's lease ran out and the
    take-over's local deadline passed: the standby connects again and takes the task,
    answered late; it gives that lease back, takes the task again at once and streams:
    no provider is started on the late lease, no `lease deadline passed`, no exit 1.

    The standby is paused (SIGSTOP) while its take-over is held: its own bound would
    otherwise cut the take-over as its deadline passes (the bound and the deadline are
    both 2 s at this TTL), and its try on a new session would race the thaw. The reset
    makes the held session's end one the standby reconnects after, whether its bound
    or the reset is seen first (what the server said on it meanwhile, e.g. ending it
    for idling in a transaction, is not delivered)."""
    holder = hosts("holder", config(pg_server.dsn, table, TTL, RENEW))
    standby = hosts("standby", config(proxy.dsn(), table, TTL, RENEW))
    db = database(pg_server.dsn)
    holder.run_standby()
    wait_until("the holder to take the lease", db.lease)
    wait_until("it to stream", lambda: streaming(db, 0))
    standby.run_standby()
    wait_until("the standby to wait", lambda: waiting(standby))
    proxy.freeze(on=TAKE_OVER)
    wait_until("a take-over try of the standby to hang", proxy.holding)
    held = time.monotonic()  # the take-over was asked before this
    standby.signal(signal.SIGSTOP)
    holder.signal(signal.SIGKILL)
    wait_until("the holder's lease to expire", lambda: released(db))
    trusted = TTL - LeaseSettings(ttl=TTL, renew_interval=RENEW).margin
    time.sleep(max(0.0, held + trusted - time.monotonic()))  # past the local deadline
    proxy.thaw(reset=True)
    standby.signal(signal.SIGCONT)
    since = db.checkpoint() or 0
    wait_until("the standby to stream", lambda: streaming(db, since))
    stderr = standby.stderr()
    assert "answered the take-over of its lease" in stderr, stderr  # it was late
    assert "lease deadline passed" not in stderr, stderr
    assert standby.proc is not None and standby.proc.poll() is None, stderr
    lease = db.lease()
    assert lease is not None and lease.pid == standby.pid
    standby.signal(signal.SIGTERM)
    assert standby.wait() == ExitCode.TERMINATED, standby.stderr()
