"""A coalescing mailbox: writers post values, the reader gets only the newest.

Checkpoint acknowledgements and commit notices are coalesced this way (contract
section 4), so a slow state store or a slow input never blocks the stream.
"""

from __future__ import annotations

import threading
from typing import Generic, Optional, TypeVar, Union, cast

T = TypeVar("T")


class _Empty:
    pass


_EMPTY = _Empty()


class Latest(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value: Union[T, _Empty] = _EMPTY
        # An event, not a flag under _cond: a reader pausing in wait_closed must not be
        # woken by every post.
        self._closed = threading.Event()

    def post(self, value: T) -> None:
        with self._cond:
            self._value = value
            self._cond.notify()

    def close(self) -> None:
        """No more values; the reader still gets the last one posted."""
        with self._cond:
            self._closed.set()
            self._cond.notify()

    def take(self, timeout: Optional[float] = None) -> tuple[bool, Optional[T]]:
        """(True, newest value) or (False, None) once closed and drained / on timeout."""
        with self._cond:
            if self._value is _EMPTY and not self._closed.is_set():
                self._cond.wait(timeout)
            if self._value is _EMPTY:
                return False, None
            value, self._value = self._value, _EMPTY
            return True, cast(T, value)

    def wait_closed(self, timeout: float) -> None:
        """Sleep up to `timeout` seconds, less if the mailbox is closed meanwhile."""
        self._closed.wait(timeout)

    @property
    def closed(self) -> bool:
        return self._closed.is_set() and self._value is _EMPTY
