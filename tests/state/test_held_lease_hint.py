"""A run refused because a postgres lease holds its task says what is true of that
holder: a run of this host killed with `kill -9` is gone, and its lease lasts until it
expires (nothing to stop: `--standby` takes over then); a live one, here or on another
host, is stopped where it runs, and a holder that crashed keeps the lease until its
TTL. Before, every refusal said to stop the run and that "the lock goes with its
process", which a lease never does. A holder's name says when its process started, so a
holder of this host whose pid another process has now is gone, and one still running is
named without a doubt; a name without it (an older dstream's) keeps the doubt. It says
its PID namespace too: a holder that is pid 1 of a namespace of its own (a container's)
is not taken for pid 1 here, which started at another time."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dstream.config.model import StateSpec
from dstream.state.base import started, this_host
from tests.cli.standby_hosts import Elsewhere, Hosts, elsewhere_on, hosts_on, state_block
from tests.pid_namespace import named_elsewhere
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
    # Its name says when it started: pid N is that run, not another process's by now.
    assert "may be gone" not in text and "is no longer that run" not in text, text
    assert UNTRUE not in text, text


def _holder_named(spec: StateSpec, elsewhere: Elsewhere, owner: str) -> None:
    """Task t held, its lease naming `owner` as its holder."""
    assert elsewhere.hold("t")
    assert spec.dsn
    with psycopg.connect(spec.dsn, autocommit=True) as admin:
        admin.execute(f"UPDATE {spec.table}_lease SET owner = %s", (owner,))


def test_a_holder_whose_pid_another_process_has_now_is_said_gone(
    spec: StateSpec, hosts: Hosts, elsewhere: Elsewhere
) -> None:
    """Pid reuse: the pid of the holder's name is in use (this test's own), by a process
    that started at another time than the holder did."""
    pid = os.getpid()
    since = started(pid)
    assert since is not None
    ticks, boot = since.split("@")
    _holder_named(spec, elsewhere, f"{this_host()}:{pid}:{int(ticks) + 1}@{boot}:0b9e4d")
    ws = hosts.workspace("a", counter("t"))
    refused = ws.run("run", "t")
    assert refused.returncode == 1, refused.stderr
    text = refused.stderr
    assert f"process {pid} of this host has ended" in text, text
    assert "nothing to stop" in text and "--standby" in text and "expires in " in text, text
    assert "stop the run" not in text and UNTRUE not in text, text
    assert "Traceback" not in text


def test_an_older_holder_name_without_its_start_is_read_as_before(
    spec: StateSpec, hosts: Hosts, elsewhere: Elsewhere
) -> None:
    """host:pid:random, as an older dstream named a holder (still in a database): a pid
    in use may be the holder or another process, so the refusal says both."""
    pid = os.getpid()
    _holder_named(spec, elsewhere, f"{this_host()}:{pid}:0b9e4d")
    ws = hosts.workspace("a", counter("t"))
    refused = ws.run("run", "t")
    assert refused.returncode == 1, refused.stderr
    text = refused.stderr
    assert f"task 't' is already running ({this_host()}:{pid}:0b9e4d" in text, text
    assert f"stop the run of pid {pid} on this host" in text, text
    assert "may be gone" in text and "--standby" in text, text
    assert "has ended" not in text and UNTRUE not in text, text


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


def test_a_live_holder_of_another_pid_namespace_is_not_said_gone(
    spec: StateSpec, hosts: Hosts, elsewhere: Elsewhere
) -> None:
    """A holder running as pid 1 of a PID namespace of its own (a container's, one of
    `hostNetwork: true`, `unshare --pid`), this host's name: its pid is not ours, and
    pid 1 here started at another time. It runs: it is to be stopped, by its pid here,
    not said gone with nothing to stop."""
    with named_elsewhere() as (name, pid_here, _unshare):
        assert name.split(":")[1] == "1", name
        _holder_named(spec, elsewhere, f"{name}:0b9e4d")
        ws = hosts.workspace("a", counter("t"))
        refused = ws.run("run", "t")
    assert refused.returncode == 1, refused.stderr
    text = refused.stderr
    assert "task 't' is already running" in text, text
    assert f"stop the run of pid {pid_here} on this host" in text, text
    assert "has ended" not in text and "nothing to stop" not in text, text
    assert "Traceback" not in text


def test_a_holder_of_a_pid_namespace_that_ended_is_said_gone(
    spec: StateSpec, hosts: Hosts, elsewhere: Elsewhere
) -> None:
    """The same holder once its namespace ended (its init killed): gone."""
    with named_elsewhere() as (name, pid_here, unshare):
        os.kill(pid_here, signal.SIGKILL)
        unshare.wait()
    _holder_named(spec, elsewhere, f"{name}:0b9e4d")
    ws = hosts.workspace("a", counter("t"))
    refused = ws.run("run", "t")
    assert refused.returncode == 1, refused.stderr
    text = refused.stderr
    assert "process 1 of PID namespace " in text and "of this host has ended" in text, text
    assert "nothing to stop" in text and "--standby" in text, text
    assert "stop the run" not in text and "Traceback" not in text, text
