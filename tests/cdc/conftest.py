"""A real PostgreSQL 15 with wal_level=logical for the CDC tests, started in a temp dir on
a free loopback port, stopped by PID at the end of the session.

Without the server binaries the tests skip, unless DSTREAM_REQUIRE_SERVICES=1 (CI), in
which case they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _unavailable(reason: str) -> None:
    if os.environ.get("DSTREAM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"PostgreSQL is required (DSTREAM_REQUIRE_SERVICES=1) but {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


def _pg_bin() -> str | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "postgres")):
            return candidate
    found = shutil.which("postgres")
    return os.path.dirname(found) if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(args: list[str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, capture_output=True, **kw)


class PgServer:
    def __init__(self, dsn: str, pid: int, root: Path) -> None:
        self.dsn = dsn
        self.pid = pid
        self.root = root

    def connect(self, **kw: Any) -> Any:
        import psycopg2

        conn = psycopg2.connect(self.dsn, **kw)
        conn.autocommit = True
        return conn

    def execute(self, *statements: str) -> None:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def new_database(self, name: str) -> str:
        """A fresh database per test keeps slots, publications and tables apart."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        return self.dsn.replace("dbname=postgres", f"dbname={name}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = _pg_bin()
    if bindir is None:
        _unavailable("no postgres binaries (apt-get install postgresql)")
        return
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        _unavailable("psycopg2 is not installed (pip install psycopg2-binary)")
    root = Path(tempfile.mkdtemp(prefix="dstream-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data = root / "data"
    done = _as_postgres([f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres"])
    if done.returncode != 0:
        _unavailable(f"initdb failed: {done.stderr.decode()[-500:]}")
    port = _free_port()
    conf = data / "postgresql.conf"
    with conf.open("a") as fh:
        fh.write(
            f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n"
            "wal_level = logical\nmax_replication_slots = 20\nmax_wal_senders = 20\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )
    log = root / "log"
    args = [f"{bindir}/postgres", "-D", str(data)]
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    with log.open("ab") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    server = PgServer(dsn, proc.pid, root)
    deadline = time.monotonic() + 30
    while True:
        try:
            server.connect().close()
            break
        except Exception as exc:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                _unavailable(f"postgres did not start ({exc}); log: {log.read_text()[-800:]}")
            time.sleep(0.1)
    try:
        yield server
    finally:
        # runuser forwards SIGTERM to postgres (smart shutdown would wait for clients).
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
