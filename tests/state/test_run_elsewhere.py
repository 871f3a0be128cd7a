"""`PostgresStore._run_elsewhere`: whether another process holds the task's lease, so that
a run that will be refused (or waits as a standby) does not rewrite the digest of the
input the holder's checkpoints come from. Another process is named by its whole identity
(state/base.py `this_process_since`), not by host:pid alone, which an older holder whose
pid was reused, or a process of another PID namespace, shares with this one."""

from __future__ import annotations

import pytest

from dstream.state.base import this_process
from dstream.state.lease import LeaseSettings
from dstream.state.postgres import PostgresStore
from tests.services import PostgresServer, table_for


@pytest.mark.timeout(60)
def test_a_holder_with_this_processs_host_and_pid_is_another_process(
    pg_server: PostgresServer, request: pytest.FixtureRequest
) -> None:
    table = table_for(request, "state_")
    # Pid 1 of another PID namespace, or this pid before a reboot: host:pid as this one.
    other = f"{this_process()}:1@00000000-0000-0000-0000-000000000000/1:abcdef"
    holder = PostgresStore(pg_server.dsn, table, lease=LeaseSettings(), owner=other)
    this = PostgresStore(pg_server.dsn, table, lease=LeaseSettings())
    try:
        with holder.hold_run("t"):
            assert this._run("look", lambda conn: this._run_elsewhere(conn, "t"))
        assert not this._run("look", lambda conn: this._run_elsewhere(conn, "t"))
    finally:
        this.close()
        holder.close()
