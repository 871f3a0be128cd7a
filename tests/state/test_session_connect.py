"""One bound for the whole connect to a state database (state/session.py,
open_session): a `dsn` of several addresses shares it, where psycopg gives every
address a connect timeout of its own, which broke the stop bound that `deploy
kubernetes` turns into terminationGracePeriodSeconds (docs/scaling.md, "Stopping on a
silent database").

An address that never answers is a listening socket nobody reads: the kernel
completes the TCP handshake, libpq sends its first packet and waits for ever (a
blackhole, as a frozen VM or a hung pooler). Whether an address was tried is whether a
connection reached its socket: nothing here measures time.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import psycopg
import pytest

from dstream.state.lease import LeaseSettings
from dstream.state.session import (
    LEAST_CONNECT_TIMEOUT,
    _attempts,
    connect_bound,
    connect_options,
    open_session,
    statement_bound,
)
from tests.scaling_page import stated

pytestmark = pytest.mark.timeout(60)


class Blackhole:
    """127.0.0.1:<port>: connections complete and are never answered."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self._accepted: list[socket.socket] = []

    def connections(self) -> int:
        """How many connections reached it so far (taken from its backlog, kept open)."""
        while True:
            try:
                conn, _ = self._listener.accept()
            except BlockingIOError:
                return len(self._accepted)
            self._accepted.append(conn)

    def close(self) -> None:
        for conn in self._accepted:
            conn.close()
        self._listener.close()


@pytest.fixture
def blackholes() -> Iterator[list[Blackhole]]:
    holes = [Blackhole() for _ in range(3)]
    yield holes
    for hole in holes:
        hole.close()


def refused_port() -> int:
    """A port nothing listens on: a connect to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dsn(*ports: int) -> str:
    hosts = ",".join("127.0.0.1" for _ in ports)
    listed = ",".join(str(port) for port in ports)
    return f"host={hosts} port={listed} user=u dbname=d sslmode=disable gssencmode=disable"


def test_two_silent_addresses_share_one_connect_bound(blackholes: list[Blackhole]) -> None:
    """lease_ttl 6 s: the whole connect has 2 s (statement_bound), which is libpq's
    least for one address, so the first takes all of it and the second is not tried
    (psycopg alone gave each its 2 s: twice the bound)."""
    first, second, _ = blackholes
    assert statement_bound(6.0) == 2.0
    with pytest.raises(psycopg.OperationalError) as raised:
        open_session(dsn(first.port, second.port), 6.0)
    assert (first.connections(), second.connections()) == (1, 0)
    text = str(raised.value)
    assert f"port: '{second.port}'" in text and "not tried" in text, text


def test_each_address_gets_an_equal_share_of_what_is_left(blackholes: list[Blackhole]) -> None:
    """lease_ttl 15 s: 5 s in all. The first of three silent addresses gets 2 s (a third,
    raised to libpq's least), the second 2 s of the 3 left; the third, with less than
    2 s left, is not tried."""
    with pytest.raises(psycopg.OperationalError) as raised:
        open_session(dsn(*(hole.port for hole in blackholes)), 15.0)
    assert [hole.connections() for hole in blackholes] == [1, 1, 0]
    assert "not tried" in str(raised.value), raised.value


def test_a_silent_address_after_a_refused_one_leaves_the_next_nothing_past_the_bound(
    blackholes: list[Blackhole],
) -> None:
    """lease_ttl 9 s: 3 s in all. The refused first address takes no time, so the first
    silent one gets 2 s of the 3; it took them, and the 1 s left is not enough for the
    second silent one: only an address that answered lets the next take libpq's 2 s
    past what is left, not one that answered earlier."""
    first, second, _ = blackholes
    with pytest.raises(psycopg.OperationalError) as raised:
        open_session(dsn(refused_port(), first.port, second.port), 9.0)
    assert (first.connections(), second.connections()) == (1, 0)
    text = str(raised.value)
    assert f"port: '{second.port}'" in text and "not tried" in text, text


def test_a_refused_address_leaves_its_time_to_the_next_whatever_the_ttl(
    blackholes: list[Blackhole],
) -> None:
    """lease_ttl 6 s: 2 s in all, libpq's least for one address. A refused first address
    took none of it, so the second is still tried (a primary down, its standby up):
    with less than 2 s left it gets libpq's 2 s, so that attempt may end up to 2 s past
    the bound; a silent first address takes the whole bound and leaves nothing."""
    silent = blackholes[0]
    with pytest.raises(psycopg.OperationalError) as raised:
        open_session(dsn(refused_port(), silent.port), 6.0)
    assert silent.connections() == 1
    assert "not tried" not in str(raised.value), raised.value


def test_prefer_standby_from_the_environment_tries_each_address_once_per_pass(
    blackholes: list[Blackhole], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PGTARGETSESSIONATTRS=prefer-standby: psycopg splits a dsn into a pass that wants
    a standby and one that takes any server, the second without the setting, so that
    each of its attempts read the environment again and became two, each with the
    attempt's whole timeout (3 connections to one silent address, 6 s of a 5 s bound).
    lease_ttl 15 s: one connection per pass, within the bound; the error tells the
    passes apart."""
    monkeypatch.setenv("PGTARGETSESSIONATTRS", "prefer-standby")
    silent = blackholes[0]
    with pytest.raises(psycopg.OperationalError) as raised:
        open_session(dsn(silent.port), 15.0)
    assert silent.connections() == 2
    text = str(raised.value)
    assert "target_session_attrs: 'standby'" in text, text
    assert "target_session_attrs: 'any'" in text, text


@pytest.mark.parametrize(
    ("in_dsn", "in_environment"),
    [("prefer-standby", "read-write"), (None, "prefer-standby")],
    ids=["dsn", "environment"],
)
def test_prefer_standby_passes_want_a_standby_then_any_server(
    monkeypatch: pytest.MonkeyPatch, in_dsn: str | None, in_environment: str
) -> None:
    """The attempts of the second pass say `any`: left unsaid, libpq would take the
    environment's setting (another pass of prefer-standby, or read-write) instead."""
    monkeypatch.setenv("PGTARGETSESSIONATTRS", in_environment)
    setting = f" target_session_attrs={in_dsn}" if in_dsn else ""
    attempts = _attempts(dsn(5432, 5433) + setting, connect_options(6.0))
    wanted = [attempt.get("target_session_attrs") for attempt in attempts]
    assert wanted == ["standby", "standby", "any", "any"]


def test_the_stop_bound_counts_the_connect_past_its_share() -> None:
    """After an address that answered, the next may be tried with libpq's least though
    less is left: the connect's bound (connect_bound) is the statement bound + 2 s, and
    the last calls' bound counts it. docs/scaling.md states that bound with the
    defaults, term by term ("10 + 5 + 7 = 22 s"): the page's figures are the code's."""
    patience, cut, connect, bound = stated(
        r"`session\.connect_bound`; (\d+) \+ (\d+) \+ (\d+) = (\d+) s with the defaults"
    )
    defaults = LeaseSettings()
    assert connect_bound(defaults.ttl) == statement_bound(defaults.ttl) + LEAST_CONNECT_TIMEOUT
    assert patience == defaults.ttl - defaults.margin
    assert cut == statement_bound(defaults.ttl)
    assert connect == connect_bound(defaults.ttl)
    assert bound == defaults.silent_stop == patience + cut + connect
