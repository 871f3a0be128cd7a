"""Faults of the network and of the database under two runners of one task: a runner
cut off from PostgreSQL (a network namespace + iptables DROP) stops its providers before
its lease can expire, even when its stop_grace is longer than the lease's margin and its
output ignores both the end of its stdin and SIGTERM; a PostgreSQL restart pauses the
holder, which goes on without a take-over. Each test has a server of its own (it listens
on a veth address, or it is restarted)."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from tests.scale.cluster import (
    Database,
    Host,
    Sampler,
    alive,
    commands,
    config,
    finish,
    network_namespace,
    partition,
    streaming,
)
from tests.services import PostgresServer, running, start_postgres, wait_until
from tests.workspace import executable, with_descendants

# dstream-file, which then lingers: it ignores SIGTERM and outlives its stdin's end, so
# only a kill ends it (a describe probe gets dstream-file alone).
STUBBORN_OUTPUT = """#!/bin/sh
[ "$DSTREAM_DESCRIBE" = 1 ] && exec {file}
trap '' TERM
{file} "$@"
exec sleep 600
"""


def stubborn_output(directory: Path) -> str:
    found = shutil.which("dstream-file")
    assert found, "dstream-file is not on PATH (pip install -e . puts it there)"
    return str(executable(directory / "stubborn-output", STUBBORN_OUTPUT.format(file=found)))


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    with network_namespace() as made:
        yield made


def test_a_runner_cut_off_from_postgres_stops_before_the_other_takes_over(
    netns: tuple[str, str], table: str, database: Callable[..., Database], tmp_path: Path
) -> None:
    name, address = netns
    with running("PostgreSQL", lambda: start_postgres(listen=("127.0.0.1", address))) as server:
        dsn = f"postgresql://postgres@{address}:{server.port}/postgres"
        # The cut-off host's providers would take far longer than the lease's margin
        # (2 s) to stop by themselves: its lost lease must bound their stop.
        slow = config(dsn, table, 6, 1, stop_grace="30s", output=stubborn_output(tmp_path))
        cut_off = Host(tmp_path, "a", slow, netns=name)
        other = Host(tmp_path, "b", config(dsn, table, 6, 1))
        hosts = [cut_off, other]
        db = database(server.dsn)
        sampler = Sampler(db)
        try:
            cut_off.run_standby()
            lease = wait_until("the namespaced host to take the lease", db.lease)
            assert lease.pid == cut_off.pid
            other.run_standby()
            wait_until("it to stream", lambda: streaming(db, 0))
            started = cut_off.provider_pids()  # the pids checked are the pids watched
            assert len(started) == 2, commands(started)
            providers = with_descendants(started)
            partition(name, address, cut=True)
            cut = time.monotonic()
            wait_until("its providers to stop", lambda: not alive(providers))
            providers_stopped = time.monotonic()
            # At that moment, on the database's clock (read from the connected side), the
            # lease is still the cut-off host's: its providers stopped before it expired.
            held = db.lease()
            assert held is not None, "the lease row could not be read"
            assert (held.pid, held.epoch) == (cut_off.pid, lease.epoch), held
            assert held.expires_in > 0, f"its providers outlived its lease: {held}"
            taken = wait_until(
                "the other host to take over",
                lambda: (new := db.lease()) is not None and new.pid == other.pid and new,
            )
            took_over = time.monotonic()
            print(
                f"\npartition (TTL 6s, stop_grace 30s): providers stopped "
                f"{providers_stopped - cut:.2f}s after the cut, "
                f"{held.expires_in:.2f}s before the lease expired; "
                f"take-over {took_over - cut:.2f}s after the cut"
            )
            assert taken.epoch == lease.epoch + 1
            assert cut_off.wait() == 1, cut_off.stderr()
            summary = cut_off.summary()["tasks"][0]
            assert summary["error"]["error"] == "LeaseDeadlinePassed", summary  # its own clock
            since = db.checkpoint() or 0
            wait_until("the other host to stream", lambda: streaming(db, since))
            partition(name, address, cut=False)
            finish(db, hosts, sampler)
        finally:
            for host in hosts:
                host.stop()


def test_a_postgres_restart_pauses_the_holder_without_a_take_over(
    table: str, database: Callable[..., Database], tmp_path: Path
) -> None:
    with running("PostgreSQL", start_postgres) as server:
        run_restart(server, table, database(server.dsn), tmp_path)


def run_restart(server: PostgresServer, table: str, db: Database, tmp_path: Path) -> None:
    text = config(server.dsn, table, 9, 1)
    holder, standby = Host(tmp_path, "a", text), Host(tmp_path, "b", text)
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
