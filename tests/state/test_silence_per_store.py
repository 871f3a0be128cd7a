"""Whether the state database answered is each store's own fact (state/lease.py,
`Answers`): its two connections share it, another store of the same database does not.
A run skips the calls that cannot matter after a stop (its history, a lease release)
on the store whose last call the database left unanswered, not on every store of that
database in the process. A real PostgreSQL behind a proxy that freezes (tests/relay.py)."""

from __future__ import annotations

import pytest

from dstream.state.base import Unanswered
from dstream.state.lease import LeaseSettings
from dstream.state.postgres import PostgresStore
from tests.relay import RecordingProxy
from tests.services import table_for

SETTINGS = LeaseSettings(ttl=6, renew_interval=1)  # a call is cut after 2 s
# A run's history entry (state/history.py), as a run records it.
RUN = {"started_at": 1000.0, "ended_at": 1001.5, "envelopes": 0, "result": "completed",
       "exit_code": 0}  # fmt: skip


@pytest.mark.timeout(120)
def test_a_store_the_database_left_unanswered_does_not_silence_another(
    proxy: RecordingProxy, request: pytest.FixtureRequest
) -> None:
    table = table_for(request, "state_")
    first = PostgresStore(proxy.dsn(), table, lease=SETTINGS, owner="first")
    second = PostgresStore(proxy.dsn(), table, lease=SETTINGS, owner="second")
    try:
        proxy.freeze()
        assert first.held_elsewhere("t") is False  # one call, cut: not known
        assert first.silent
        assert not second.silent  # it asked nothing the database left unanswered
    finally:
        proxy.thaw(reset=True)
        second.close()
        first.close()


@pytest.mark.timeout(120)
def test_a_store_s_lease_connection_and_its_own_share_what_they_saw(
    proxy: RecordingProxy, request: pytest.FixtureRequest
) -> None:
    """The lease keeper's connection met the silence (a release cut): the store's own
    connection knows it, and makes no call that cannot matter: the run's history is
    refused (Unanswered) with nothing sent and no session opened for it."""
    table = table_for(request, "state_")
    store = PostgresStore(proxy.dsn(), table, lease=SETTINGS, owner="holder")
    try:
        assert store.try_hold("t") > 0
        assert not store.silent
        proxy.freeze()
        store.release("t")  # on the lease connection: cut, then no session in time
        assert store.silent
        sent, opened = proxy.sent(), proxy.opened()
        with pytest.raises(Unanswered):
            store.add_run("t", RUN)
        assert (proxy.sent()[len(sent) :], proxy.opened()) == (b"", opened)
    finally:
        proxy.thaw(reset=True)
        store.close()
