"""A coalescing mailbox: writers post checkpoints, the reader gets only the newest.

Checkpoint acknowledgements and commit notices are coalesced this way (contract
section 4), so a slow state store or a slow input never blocks the stream.
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Optional


class Latest:
    """Of checkpoints, as the bytes the output acknowledged (runtime/checkpoints.py)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value: Optional[bytes] = None  # None: nothing posted since the last take
        # An event, not a flag under _cond: a reader pausing in wait_closed must not be
        # woken by every post.
        self._closed = threading.Event()

    def post(self, value: bytes) -> None:
        with self._cond:
            self._value = value
            self._cond.notify()

    def close(self) -> None:
        """No more values; the reader still gets the last one posted."""
        with self._cond:
            self._closed.set()
            self._cond.notify()

    def take(self, timeout: Optional[float] = None) -> tuple[bool, Optional[bytes]]:
        """(True, newest value) or (False, None) once closed and drained / on timeout."""
        with self._cond:
            if self._value is None and not self._closed.is_set():
                self._cond.wait(timeout)
            value, self._value = self._value, None
            return value is not None, value

    def values(self) -> Iterator[bytes]:
        """Each newest value, as it comes, until the mailbox is closed and drained (the
        reader's loop: the committer's and the notifier's)."""
        while True:
            ok, value = self.take(timeout=1.0)
            if ok and value is not None:
                yield value
            elif self.closed:
                return

    def wait_closed(self, timeout: float) -> None:
        """Sleep up to `timeout` seconds, less if the mailbox is closed meanwhile."""
        self._closed.wait(timeout)

    @property
    def closed(self) -> bool:
        return self._closed.is_set() and self._value is None
