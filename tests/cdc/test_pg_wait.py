"""The PostgreSQL input's waits on its replication socket (providers/postgres_cdc/
wakeups.py): they give way to a stop, and while changes stream in they wake the reader
for 64 KiB at a time, never later than a bounded wait after it found the socket empty.

The SDK stops an input's read loop by cancelling it (a first SIGTERM). On Python up to
3.11, `asyncio.wait_for` swallows a cancellation that arrives in the same loop iteration
as its future's result, and the read loop then went on reading after the stop: the
provider never exited, and dstream had to kill it after `stop_grace`
(tests/cdc/test_pg_provider.py saw a provider still running 30 s after SIGTERM, about
once in twenty runs: the stop came as a keepalive made the socket readable)."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from dstream.providers.postgres_cdc.wakeups import (
    BURST_MESSAGES,
    BUSY_BYTES,
    SocketWakeups,
    wait_readable,
)


def test_a_cancel_that_comes_with_the_socket_becoming_readable_is_not_lost() -> None:
    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        replication, server = socket.socketpair()
        signal_r, signal_w = socket.socketpair()
        waiting = asyncio.ensure_future(wait_readable(replication.fileno(), 30))
        await asyncio.sleep(0)  # one pass of the loop parks the wait on the socket
        # Both become readable before the loop's next select: the socket's reader and
        # the stop run in one iteration, before the waiting task resumes.
        loop.add_reader(signal_r.fileno(), waiting.cancel)
        server.send(b"k")  # a keepalive arrives ...
        signal_w.send(b"\0")  # ... as the stop does
        await asyncio.wait([waiting], timeout=5)
        loop.remove_reader(signal_r.fileno())
        for sock in (replication, server, signal_r, signal_w):
            sock.close()
        return waiting.cancelled()

    assert asyncio.run(scenario()), "the stop was swallowed: the read loop would go on"


def test_the_wait_ends_when_the_socket_is_readable_or_the_time_is_up() -> None:
    """Either ends the wait: a wait that missed either would hit the outer 5 s bound
    (asyncio.TimeoutError fails the test)."""

    async def scenario() -> None:
        replication, server = socket.socketpair()
        server.send(b"k")
        await asyncio.wait_for(wait_readable(replication.fileno(), 30), 5)  # readable
        replication.recv(1)
        await asyncio.wait_for(wait_readable(replication.fileno(), 0.01), 5)  # time is up
        replication.close()
        server.close()

    asyncio.run(scenario())


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A loopback TCP connection, as a replication connection is: (reader, server)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        reader = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return reader, server


def _low_water(sock: socket.socket) -> int:
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT)


def test_a_burst_wakes_the_reader_for_64_kib_at_a_time_until_a_wait_finds_less() -> None:
    """A wait that ignored the burst's bound would hit the outer 5 s bound."""

    async def scenario() -> None:
        reader, server = _tcp_pair()
        wakeups = SocketWakeups(reader.fileno())
        wakeups.read(BURST_MESSAGES - 1)  # a few messages: no burst, any byte wakes
        assert (wakeups.busy, _low_water(reader)) == (False, 1)
        wakeups.read(BURST_MESSAGES)
        assert (wakeups.busy, _low_water(reader)) == (True, BUSY_BYTES)

        server.sendall(b"x" * 100)  # queued, but less than BUSY_BYTES: no wake
        assert not await asyncio.wait_for(wait_readable(reader.fileno(), 0.05), 5)
        server.sendall(b"x" * BUSY_BYTES)
        assert await asyncio.wait_for(wait_readable(reader.fileno(), 30), 5)
        await asyncio.wait_for(wakeups.wait(30), 5)  # wakes at once: still a burst
        assert wakeups.busy
        reader.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # read all that came
            while reader.recv(1 << 20):
                pass

        server.sendall(b"y")  # the tail of the burst: read after the bounded wait ...
        await asyncio.wait_for(wakeups.wait(30), 5)
        assert (wakeups.busy, _low_water(reader)) == (False, 1)  # ... which ended it
        assert await asyncio.wait_for(wait_readable(reader.fileno(), 30), 5)  # any byte
        reader.close()
        server.close()

    asyncio.run(scenario())
