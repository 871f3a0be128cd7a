"""The PostgreSQL input's idle wait must give way to a stop.

The SDK stops an input's read loop by cancelling it (a first SIGTERM). On Python up to
3.11, `asyncio.wait_for` swallows a cancellation that arrives in the same loop iteration
as its future's result, and the read loop then went on reading after the stop: the
provider never exited, and dstream had to kill it after `stop_grace`
(tests/cdc/test_pg_provider.py saw a provider still running 30 s after SIGTERM, about
once in twenty runs: the stop came as a keepalive made the socket readable)."""

from __future__ import annotations

import asyncio
import socket

from dstream.providers.postgres_cdc.stream import _wait_readable


def test_a_cancel_that_comes_with_the_socket_becoming_readable_is_not_lost() -> None:
    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        replication, server = socket.socketpair()
        signal_r, signal_w = socket.socketpair()
        waiting = asyncio.ensure_future(_wait_readable(replication.fileno(), 30))
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
        await asyncio.wait_for(_wait_readable(replication.fileno(), 30), 5)  # readable
        replication.recv(1)
        await asyncio.wait_for(_wait_readable(replication.fileno(), 0.01), 5)  # time is up
        replication.close()
        server.close()

    asyncio.run(scenario())
