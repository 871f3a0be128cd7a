"""The metrics endpoint (`--metrics-addr`, bound on 0.0.0.0 by `deploy`) cannot be made
to hold a thread per idle connection for ever, nor be locked out by slow clients: a
connection whose request is not complete within a deadline (however slowly it trickles
in) is closed, and a connection beyond the cap takes the slot of the one that has waited
longest for its request, so a slow client (a slowloris) can neither pile up the
process's threads nor keep a probe of /healthz out."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from tests.runtime.conftest import metrics_address, scrape
from tests.workspace import Workspace

ENDLESS = """
task "t" {
  input {
    provider_path = "dstream-counter"
    config { interval = 50 }
  }
  output { provider_path = "dstream-null" }
}
"""
PARTIAL = b"GET /metrics HTTP/1.1\r\nHost: x\r\n"  # never the blank line that ends it
CLIENT_WAIT = 120.0  # far beyond the server's timeout: only a server that never closes fails


@pytest.fixture
def served(ws: Workspace) -> Iterator[tuple[int, str]]:
    """A run serving metrics: its pid and the address."""
    ws.config(ENDLESS)
    proc = ws.popen("run", "t", "--metrics-addr", "127.0.0.1:0")
    try:
        yield proc.pid, metrics_address(proc)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)


def idle_connection(addr: str) -> socket.socket:
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=CLIENT_WAIT)
    sock.sendall(PARTIAL)
    return sock


def closed_by_the_server(sock: socket.socket) -> bool:
    """Waits (at most CLIENT_WAIT) for the server to close or answer `sock`."""
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def wait_for_frames(addr: str) -> None:
    """Until the task has forwarded an envelope (the test's timeout bounds the wait)."""
    while not re.search(
        r'^dstream_frames_total\{kind="data",task="t"\} [1-9]', scrape(addr)[1], re.M
    ):
        time.sleep(0.1)


@pytest.mark.timeout(300)
def test_an_idle_connection_is_closed(served: tuple[int, str]) -> None:
    _, addr = served
    with idle_connection(addr) as sock:
        assert closed_by_the_server(sock)
    assert scrape(addr, "/healthz")[0] == 200  # and the endpoint still serves


def closed_while_trickling(sock: socket.socket) -> bool:
    """Sends `sock` one byte a second, each well within any per-read timeout, until the
    server closes it (True) or CLIENT_WAIT seconds of bytes have been sent (False)."""
    sock.settimeout(1.0)
    for _ in range(int(CLIENT_WAIT)):
        try:
            sock.sendall(b"X")
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            continue  # still open: the next byte
        except OSError:  # reset, or a broken pipe: closed
            return True
    return False


@pytest.mark.timeout(300)
def test_a_trickling_request_is_closed_at_its_deadline(served: tuple[int, str]) -> None:
    _, addr = served
    with idle_connection(addr) as sock:
        assert closed_while_trickling(sock)
    assert scrape(addr, "/healthz")[0] == 200


@pytest.mark.timeout(300)
def test_a_probe_gets_through_while_every_slot_is_held(served: tuple[int, str]) -> None:
    from dstream.runtime.metrics import MAX_CONNECTIONS

    _, addr = served
    held = [idle_connection(addr) for _ in range(MAX_CONNECTIONS)]
    try:
        for _ in range(3):  # each probe finds every slot held again
            held.append(idle_connection(addr))
            assert scrape(addr, "/healthz")[0] == 200
        assert scrape(addr)[0] == 200
    finally:
        for sock in held:
            sock.close()


@pytest.mark.timeout(300)
def test_connections_beyond_the_cap_take_the_oldest_slots_and_threads_stay_bounded(
    served: tuple[int, str],
) -> None:
    from dstream.runtime.metrics import MAX_CONNECTIONS

    pid, addr = served
    wait_for_frames(addr)  # the run's own threads are all started
    before = threads(pid)
    extra = 8
    held = [idle_connection(addr) for _ in range(MAX_CONNECTIONS)]
    beyond = [idle_connection(addr) for _ in range(extra)]
    try:
        # Each one beyond the cap closes the oldest waiting, in order: once these are
        # closed, every connection was accepted.
        assert all(closed_by_the_server(sock) for sock in held[:extra])
        # One thread at most per connection held (fewer if some timed out meanwhile);
        # a few more for what the run itself may start or end meanwhile.
        assert threads(pid) <= before + MAX_CONNECTIONS + 4, (before, threads(pid))
        assert scrape(addr, "/healthz")[0] == 200
    finally:
        for sock in held + beyond:
            sock.close()
