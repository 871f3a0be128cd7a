"""A run refused because a postgres lease holds its task says what is true of that
holder: a run of this host killed with `kill -9` is gone, and its lease lasts until it
expires (nothing to stop: `--standby` takes over then); a live one, here or on another
host, is stopped where it runs, and a holder that crashed keeps the lease until its
TTL. Before, every refusal said to stop the run and that "the lock goes with its
process", which a lease never does."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dstream.config.model import StateSpec
from tests.cli.standby_hosts import Elsewhere, Hosts, elsewhere_on, hosts_on, state_block
from tests.scale.cluster import counter
from tests.services import PostgresServer, table_for, wait_until

pytestmark = pytest.mark.timeout(120)

TTL = 60  # outlives the test: the refusals below all meet an unexpired lease
UNTRUE = "the lock goes with its process"


@pytest.fixture
def spec(pg_server: PostgresServer, request: pytest.FixtureRequest) -> StateSpec:
    return StateSpec(
        backend="postgres", dsn=pg_server.dsn, table=table_for(request, "held_"), lease_ttl=TTL
    )


@pytest.fixture
def hosts(spec: StateSpec, tmp_path: Path) -> Iterator[Hosts]:
    block = state_block(spec).replace("\n}", f'\n  lease_ttl = "{TTL}s"\n}}')
    with hosts_on(spec, tmp_path) as made:
        made.state = block
        yield made


@pytest.fixture
def elsewhere(spec: StateSpec, tmp_path: Path) -> Iterator[Elsewhere]:
    with elsewhere_on(spec, tmp_path) as other:
        yield other


def test_a_killed_holder_of_this_host_is_said_gone_and_standby_offered(
    hosts: Hosts, elsewhere: Elsewhere
) -> None:
    ws = hosts.workspace("a", counter("t"))
    holder = hosts.run(ws, "t")
    wait_until("the run to stream", lambda: holder.streams("t"))
    holder.signal(signal.SIGKILL)
    holder.wait()
    assert elsewhere.store.held_elsewhere("t")  # its lease outlives it
    refused = ws.run("run", "t")
    assert refused.returncode == 1, refused.stderr
    text = refused.stderr
    assert f"process {holder.proc.pid} of this host has ended" in text, text
    assert "--standby" in text and "expires in " in text, text
    assert "stop it" not in text and UNTRUE not in text, text
    assert "Traceback" not in text


def test_a_live_holder_of_this_host_is_named_to_stop(hosts: Hosts) -> None:
    ws = hosts.workspace("a", counter("t"))
    holder = hosts.run(ws, "t")
    wait_until("the run to stream", lambda: holder.streams("t"))
    refused = ws.run("run", "t")
    assert refused.returncode == 1, refused.stderr
    text = refused.stderr
    assert "task 't' is already running" in text, text
    assert f"stop the run of pid {holder.proc.pid} on this host" in text, text
    assert "may be gone" in text and "--standby" in text, text  # the pid may be reused
    assert UNTRUE not in text, text


def test_a_holder_of_another_host_is_to_be_stopped_there(
    spec: StateSpec, hosts: Hosts, elsewhere: Elsewhere
) -> None:
    assert elsewhere.hold("t")
    assert spec.dsn
    with psycopg.connect(spec.dsn, autocommit=True) as admin:  # as a run of etl-9 names it
        admin.execute(f"UPDATE {spec.table}_lease SET owner = 'etl-9:4242:0b9e4d'")
    ws = hosts.workspace("a", counter("t"))
    refused = ws.run("run", "t")
    assert refused.returncode == 1, refused.stderr
    text = refused.stderr
    assert "task 't' is already running (etl-9:4242:0b9e4d" in text, text
    assert "stop it on etl-9" in text, text
    assert "keeps the lease until it expires" in text and "--standby" in text, text
    assert UNTRUE not in text, text
