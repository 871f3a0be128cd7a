"""Faults of the network and of the database under two runners of one task: a runner
cut off from PostgreSQL (a network namespace + iptables DROP) stops its providers before
its lease can be taken; a PostgreSQL restart pauses the holder, which goes on without
a take-over. Each test has a server of its own (it listens on a veth address, or it is
restarted)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale.cluster import (
    CONFIG,
    TASK,
    Database,
    Host,
    Sampler,
    alive,
    finish,
    network_namespace,
    partition,
    streaming,
)
from tests.services import PostgresServer, running, start_postgres, wait_until


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    with network_namespace() as made:
        yield made


def test_a_runner_cut_off_from_postgres_stops_before_the_other_takes_over(
    netns: tuple[str, str], table: str, tmp_path: Path
) -> None:
    name, address = netns
    with running("PostgreSQL", lambda: start_postgres(listen=("127.0.0.1", address))) as server:
        dsn = f"postgresql://postgres@{address}:{server.port}/postgres"
        config = CONFIG.format(dsn=dsn, table=table, ttl=6, renew=1, task=TASK)
        cut_off, other = Host(tmp_path, "a", config, netns=name), Host(tmp_path, "b", config)
        hosts = [cut_off, other]
        db = Database(server.dsn, table)
        sampler = Sampler(db)
        try:
            cut_off.run_standby()
            lease = wait_until("the namespaced host to take the lease", db.lease)
            assert lease.pid == cut_off.pid
            other.run_standby()
            wait_until("it to stream", lambda: streaming(db, 0))
            providers = cut_off.provider_pids()
            assert len(providers) == 2
            partition(name, address, cut=True)
            cut = time.monotonic()
            wait_until("its providers to stop", lambda: not alive(providers))
            providers_stopped = time.monotonic()
            taken = wait_until(
                "the other host to take over",
                lambda: (new := db.lease()) is not None and new.pid == other.pid and new,
            )
            took_over = time.monotonic()
            assert providers_stopped < took_over  # it stopped before its lease ended
            print(
                f"\npartition (TTL 6s): providers stopped {providers_stopped - cut:.2f}s "
                f"after the cut, take-over {took_over - cut:.2f}s after it"
            )
            assert taken.epoch == lease.epoch + 1
            assert cut_off.wait() == 1, cut_off.stderr()
            summary = cut_off.summary()["tasks"][0]
            assert summary["error"]["error"] == "LockLost", summary
            since = db.checkpoint() or 0
            wait_until("the other host to stream", lambda: streaming(db, since))
            partition(name, address, cut=False)
            finish(db, hosts, sampler)
        finally:
            for host in hosts:
                host.stop()


def test_a_postgres_restart_pauses_the_holder_without_a_take_over(
    table: str, tmp_path: Path
) -> None:
    with running("PostgreSQL", start_postgres) as server:
        run_restart(server, table, tmp_path)


def run_restart(server: PostgresServer, table: str, tmp_path: Path) -> None:
    config = CONFIG.format(dsn=server.dsn, table=table, ttl=9, renew=1, task=TASK)
    holder, standby = Host(tmp_path, "a", config), Host(tmp_path, "b", config)
    db = Database(server.dsn, table)
    sampler = Sampler(db)
    try:
        holder.run_standby()
        lease = wait_until("the first host to take the lease", db.lease)
        standby.run_standby()
        wait_until("it to stream", lambda: streaming(db, 0))
        before = db.checkpoint() or 0
        standby_size = standby.output_size()
        restarted = time.monotonic()
        server.restart()
        wait_until("the holder to stream again", lambda: streaming(db, before))
        print(f"\npostgres restart: streaming again {time.monotonic() - restarted:.2f}s later")
        after = db.lease()
        assert after is not None and (after.pid, after.epoch) == (holder.pid, lease.epoch)
        assert standby.output_size() == standby_size and standby.provider_pids() == []
        assert holder.proc is not None and holder.proc.poll() is None, holder.stderr()
        holder.signal(signal.SIGTERM)
        assert holder.wait() in (0, 143), holder.stderr()
        finish(db, [holder, standby], sampler)
    finally:
        holder.stop()
        standby.stop()
