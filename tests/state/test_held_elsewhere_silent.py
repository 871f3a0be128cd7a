"""`PostgresStore.held_elsewhere`, a standby's poll of the task another run holds (runtime/
taking.py, `still_blocked`), asks a silent database once: its one call is cut after
`statement_bound(ttl)` and it answers "not known" (False, base.StateStore.held_elsewhere)
instead of retrying on new sessions for the patience of the store's other reads
(ttl - margin, 10 s with the defaults; up to `silent_stop`, 22 s, with the cut and the
connect timeout that follow). A real PostgreSQL, reached through a proxy that freezes:
every socket open, nothing forwarded, what was sent recorded (tests/relay.py)."""

from __future__ import annotations

import pytest

from dstream.state.lease import LeaseSettings
from dstream.state.postgres import PostgresStore
from tests.relay import LEASE_READ, RecordingProxy
from tests.services import PostgresServer, table_for

# The lease a standby runs with by default (no lease_ttl in the state block).
SETTINGS = LeaseSettings()


@pytest.mark.timeout(120)
def test_held_elsewhere_asks_a_silent_database_once_and_answers_not_known(
    pg_server: PostgresServer, proxy: RecordingProxy, request: pytest.FixtureRequest
) -> None:
    """The task IS held elsewhere: only an unanswered read says False. Once frozen, the
    proxy saw the lease read once and no new session: a retry would open one first (the
    cut closes the session), and through a frozen proxy it could never send the read."""
    table = table_for(request, "state_")
    holder = PostgresStore(pg_server.dsn, table, lease=SETTINGS, owner="holder")
    standby = PostgresStore(proxy.dsn(), table, lease=SETTINGS, owner="standby")
    try:
        with holder.hold_run("t"):
            assert standby.held_elsewhere("t")  # answered: the lease is the holder's
            proxy.freeze()
            sent, opened = len(proxy.sent()), proxy.opened()
            held = standby.held_elsewhere("t")
            assert proxy.frozen and proxy.holding(), "the read did not wait on the frozen proxy"
            assert held is False  # not known: the next try to take the task tells
            assert standby.silent  # what a standby logs as a stall
            asked = proxy.sent()[sent:]
            assert asked.count(LEASE_READ) == 1, asked
            assert proxy.opened() == opened, "it opened a session to ask again"
    finally:
        standby.close()
        holder.close()


@pytest.mark.timeout(120)
def test_held_elsewhere_answers_again_once_the_database_does(
    pg_server: PostgresServer, proxy: RecordingProxy, request: pytest.FixtureRequest
) -> None:
    """The session its cut closed is opened again by the next poll: the stall is not
    taken for a free task for good."""
    table = table_for(request, "state_")
    holder = PostgresStore(pg_server.dsn, table, lease=SETTINGS, owner="holder")
    standby = PostgresStore(proxy.dsn(), table, lease=SETTINGS, owner="standby")
    try:
        with holder.hold_run("t"):
            proxy.freeze()
            assert standby.held_elsewhere("t") is False
            proxy.thaw(reset=True)  # what it held is lost, as a restarted middlebox's
            assert standby.held_elsewhere("t")
            assert not standby.silent
    finally:
        standby.close()
        holder.close()
