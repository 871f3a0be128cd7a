"""`PostgresStore.held_elsewhere`, a standby's poll of the task another run holds (runtime/
taking.py, `still_blocked`), asks a silent database once: its one call is cut after
`statement_bound(ttl)` and it answers "not known" (False, base.StateStore.held_elsewhere)
instead of retrying on new sessions for the patience of the store's other reads
(ttl - margin, 10 s with the defaults; up to `silent_stop`, 20 s, with the cut and the
connect timeout that follow). A real PostgreSQL, reached through a proxy that freezes:
every socket open, nothing forwarded (tests/relay.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from dstream.state.lease import LeaseSettings
from dstream.state.postgres import PostgresStore
from dstream.state.session import statement_bound
from tests.relay import FreezableProxy
from tests.services import PostgresServer, table_for

# The lease a standby runs with by default (no lease_ttl in the state block).
SETTINGS = LeaseSettings()
# One attempt on the store's open session: its call is cut after this (5 s).
ONE_ATTEMPT = statement_bound(SETTINGS.ttl)
# A retrying call (PostgresStore._run without `once`) on a silent database gives up only
# once this much has passed since it began (10 s): a call that returned sooner made a
# single attempt. Not a speed bound: twice ONE_ATTEMPT, so a loaded host has 5 s of slack.
RETRY_BUDGET = SETTINGS.ttl - SETTINGS.margin


@pytest.fixture
def proxy(pg_server: PostgresServer) -> Iterator[FreezableProxy]:
    made = FreezableProxy(pg_server.port)
    yield made
    made.close()  # thawed: nothing is left waiting on it


@pytest.mark.timeout(120)
def test_held_elsewhere_asks_a_silent_database_once_and_answers_not_known(
    pg_server: PostgresServer, proxy: FreezableProxy, request: pytest.FixtureRequest
) -> None:
    """The task IS held elsewhere: only an unanswered read says False. The call returns
    before RETRY_BUDGET has passed: it did not retry (it would have waited that long at
    least, then a connect timeout more)."""
    assert ONE_ATTEMPT < RETRY_BUDGET  # else the bound below could not tell them apart
    table = table_for(request, "state_")
    holder = PostgresStore(pg_server.dsn, table, lease=SETTINGS, owner="holder")
    standby = PostgresStore(proxy.dsn(), table, lease=SETTINGS, owner="standby")
    try:
        with holder.hold_run("t"):
            assert standby.held_elsewhere("t")  # answered: the lease is the holder's
            proxy.freeze()
            began = time.monotonic()
            held = standby.held_elsewhere("t")
            elapsed = time.monotonic() - began
            assert proxy.frozen and proxy.holding(), "the read did not wait on the frozen proxy"
            assert held is False  # not known: the next try to take the task tells
            assert standby.silent  # what a standby logs as a stall
            assert elapsed < RETRY_BUDGET, (
                f"held_elsewhere took {elapsed:.1f}s on a silent database: it retried "
                f"(one attempt is cut after {ONE_ATTEMPT:g}s; retries last {RETRY_BUDGET:g}s)"
            )
    finally:
        standby.close()
        holder.close()


@pytest.mark.timeout(120)
def test_held_elsewhere_answers_again_once_the_database_does(
    pg_server: PostgresServer, proxy: FreezableProxy, request: pytest.FixtureRequest
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
