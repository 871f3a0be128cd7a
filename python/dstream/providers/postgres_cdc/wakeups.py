"""When the replication read loop wakes: on the socket, bounded by a timeout.

While changes stream in, a reader that wakes for every few kilobytes the walsender
sends (as soon as the socket is readable, as it did) spends a large share of its CPU on
the wakes: each is a recv of a few kilobytes, a pass of the loop in Python, and a TCP
window update the walsender's side processes. Measured at 1.2 M changes
(docs/benchmarks.md, "PostgreSQL CDC against a psycopg2 consumer"): the provider used
2.1 s of CPU so, 1.3 s with the wakes below. So while a burst lasts the socket wakes the reader
only once BUSY_BYTES are queued (SO_RCVLOWAT, which poll and epoll honour for TCP),
and never later than BUSY_WAIT_SECONDS after the loop last found it empty: the tail of
a burst is read at most that late. The first wait that times out ends the burst, and
the socket wakes on any byte again: a lone change is read as soon as it arrives.

Kafka's consumers batch the same way (fetch.min.bytes with fetch.max.wait.ms).
"""

from __future__ import annotations

import asyncio
import socket
from typing import TypeVar

T = TypeVar("T")

# A burst: a read that found at least this many messages waiting.
BURST_MESSAGES = 64
# While a burst lasts: wake for this much data, or after this long.
BUSY_BYTES = 64 * 1024
BUSY_WAIT_SECONDS = 0.002


def settle(waiter: asyncio.Future[T], value: T) -> None:
    """`waiter`'s result, unless it has one (a timer and an event race for it)."""
    if not waiter.done():
        waiter.set_result(value)


async def wait_readable(fd: int, timeout: float) -> bool:
    """Until `fd` is readable (True) or `timeout` seconds have passed (False). Not
    `asyncio.wait_for`: up to Python 3.11 it swallows a cancellation (the SDK's stop)
    that arrives as its future completes, and the read loop would go on after a
    SIGTERM."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[bool] = loop.create_future()
    loop.add_reader(fd, settle, ready, True)
    timer = loop.call_later(timeout, settle, ready, False)
    try:
        return await ready
    finally:
        timer.cancel()
        loop.remove_reader(fd)


class SocketWakeups:
    """The read loop's waits on the replication socket `fd` (module docstring)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.busy = False

    def read(self, messages: int) -> None:
        """A read found `messages` messages waiting: a burst starts at BURST_MESSAGES."""
        if messages >= BURST_MESSAGES and not self.busy:
            self.busy = self._low_water(BUSY_BYTES)

    async def wait(self, timeout: float) -> None:
        """Until the socket has data (BUSY_BYTES during a burst) or `timeout` passed."""
        if not self.busy:
            await wait_readable(self.fd, timeout)
        elif not await wait_readable(self.fd, min(timeout, BUSY_WAIT_SECONDS)):
            self.busy = not self._low_water(1)  # the burst is over

    def _low_water(self, size: int) -> bool:
        """Set the socket's SO_RCVLOWAT; whether it took (not every socket has one: a
        Unix socket's poll ignores it, and the waits then stay as they were)."""
        sock = socket.socket(fileno=self.fd)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)
        except OSError:
            return False
        finally:
            sock.detach()  # the descriptor stays libpq's
        return True
