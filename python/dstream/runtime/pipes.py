"""What dstream reads of a provider's pipes: its stdout as lines (`LineReader`), and
its stderr relayed to the log line by line, its last lines kept for errors
(`StderrRelay`). runtime/process.py's ProviderProcess owns one of each."""

from __future__ import annotations

import codecs
import collections
import contextlib
import os
import select
import threading
import time

from dstream.config.redact import redact_edges
from dstream.errors import Interrupted, ProviderError
from dstream.protocol import frames

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Callable, Optional

    from dstream.runtime.process import LogSink

STDERR_TAIL_LINES = 20
# The longest stderr line relayed (bytes); what a longer one holds past it is dropped,
# and the line says so (docs/operations.md, "Logs"). It bounds the memory one line (and
# the tail: STDERR_TAIL_LINES of them) takes; a log shipper's limit is about as large
# (Loki's default: 256 KB).
MAX_STDERR_LINE = 256 * 1024
# Seconds between two looks at a stop request while waiting: for a line here, for an
# event or a lock in runtime/process.py (wait_unless_stopped).
STOP_POLL = 0.1


def stopped_starting(label: str, waiting: str = "") -> Interrupted:
    """A stop asked for while the provider `label` had not begun to stream (`waiting`:
    on what, when it was not the provider itself)."""
    waiting = f" ({waiting})" if waiting else ""
    return Interrupted(
        f"{label} was still starting{waiting} when the run was asked to stop",
        # True with a checkpoint stored and without: nothing was streamed.
        hint="run it again: nothing was streamed yet, so it starts where this run would have",
    )


class LineTooLong(ProviderError):
    """A stdout line longer than the limit it was read within. It stays unread (see
    LineReader.read_line): a legacy input's first frame so long is the pump's to judge."""


class LineReader:
    """A provider's stdout, read as lines, with what was read past the last line kept
    for the next. `label` names the provider in errors ("input 'dstream-pg'")."""

    def __init__(self, stream: IO[bytes], label: str) -> None:
        self._stream = stream
        self._label = label
        self._buf = bytearray()
        self._eof = False

    def read_line(
        self,
        timeout: Optional[float],
        limit: int = frames.DEFAULT_MAX_FRAME_SIZE,
        *,
        stopping: Optional[Callable[[], bool]] = None,
    ) -> Optional[bytes]:
        """The next line without its newline (nor a "\r" before it); None at EOF. A line
        longer than `limit` is LineTooLong, as a frame is invalid for the pump, however
        it arrived; what was read of it stays buffered (take_buffered). Raises
        TimeoutError; Interrupted (stopped_starting) when `stopping()`, asked every
        STOP_POLL seconds while it waits, says a stop came."""
        deadline = None if timeout is None else time.monotonic() + timeout
        scanned = 0  # a long line is searched once, not again with every chunk
        while True:
            nl = self._buf.find(b"\n", scanned)
            scanned = len(self._buf)
            if nl >= 0:
                end = nl - 1 if nl and self._buf[nl - 1] == ord("\r") else nl
                if end > limit:
                    raise self._too_long(limit)
                line = bytes(self._buf[:end])
                del self._buf[: nl + 1]
                return line
            if self._eof:
                return self._rest(limit)
            if len(self._buf) > limit + 1:  # (one more: the "\r" of a "\r\n")
                raise self._too_long(limit)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            wait = remaining if stopping is None else min(remaining or STOP_POLL, STOP_POLL)
            if self._fill(wait):
                continue
            if stopping is not None and stopping():
                raise stopped_starting(self._label)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError

    def _fill(self, wait: Optional[float]) -> bool:
        """Read what the pipe holds within `wait` seconds (None: until it holds
        something); whether it was readable (EOF included)."""
        fd = self._stream.fileno()
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            return False
        chunk = os.read(fd, 1 << 16)
        if chunk:
            self._buf += chunk
        else:
            self._eof = True
        return True

    def _rest(self, limit: int) -> Optional[bytes]:
        """At EOF: the unterminated last line, if any."""
        if not self._buf:
            return None
        if len(self._buf) > limit:
            raise self._too_long(limit)
        line = bytes(self._buf)
        self._buf.clear()
        return line

    def _too_long(self, limit: int) -> LineTooLong:
        return LineTooLong(
            f"{self._label} wrote a line longer than {limit} bytes",
            provider=self._label,
            hint=frames.RAISE_MAX_FRAME_SIZE,
        )

    def preload(self, data: bytes, eof: bool) -> None:
        """`data` to be read first (what a warm start already read, a line put back)."""
        self._buf[0:0] = data
        self._eof = self._eof or eof

    def take_buffered(self) -> bytes:
        """Everything read and not yet returned as a line."""
        data = bytes(self._buf)
        self._buf.clear()
        return data


class StderrRelay:
    """A provider's stderr, read to its end on a thread of its own: each line goes to
    `sink` (dstream.logs decides how it is shown), the last STDERR_TAIL_LINES are kept."""

    def __init__(self, stream: IO[bytes], sink: LogSink, *, task: str, role: str) -> None:
        self._stream = stream
        self._sink = sink
        self._task = task
        self._role = role
        self._tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._thread = threading.Thread(target=self._forward, name=f"{role}-stderr", daemon=True)
        self._thread.start()

    def _forward(self) -> None:
        try:
            while (text := stderr_line(self._stream)) is not None:
                if not text:
                    continue
                self._tail.append(text)
                # The line is kept in the tail; a sink that fails drops it, but the
                # reading goes on: a provider whose stderr pipe fills blocks for ever.
                with contextlib.suppress(OSError, ValueError):
                    self._sink(self._task, self._role, text)
        except (OSError, ValueError):
            pass  # the pipe itself: closed or gone

    def join(self, timeout: float) -> None:
        """Wait up to `timeout` for the last lines (the pipe's end)."""
        self._thread.join(timeout=timeout)

    def tail(self) -> list[str]:
        return list(self._tail)


def stderr_line(stream: IO[bytes]) -> Optional[str]:
    """The next line of a provider's stderr as text without its line end, None at EOF;
    one longer than MAX_STDERR_LINE is cut once (`_cut`), never split into pieces that
    would each read as a line. Also the provider kit's reading (kit/harness.py)."""
    raw = stream.readline(MAX_STDERR_LINE)
    if not raw:
        return None
    if len(raw) == MAX_STDERR_LINE and raw[-1:] != b"\n":
        return _cut(stream, raw)
    return raw.decode("utf-8", "replace").rstrip("\r\n")


def _cut(stream: IO[bytes], head: bytes) -> str:
    """The line that begins with `head` (MAX_STDERR_LINE bytes, no line end), its rest
    read and dropped to its end, and said: as one line, never as the pieces the bound
    would make of it (each shown as a line of its own)."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(head)  # a character the bound cut in two: dropped whole
    dropped = len(decoder.getstate()[0])
    while True:
        piece = stream.readline(MAX_STDERR_LINE)
        dropped += len(piece.rstrip(b"\r\n") if piece.endswith(b"\n") else piece)
        if not piece or piece.endswith(b"\n"):
            break
    if not dropped:  # its line end came right after the bound
        return text.rstrip("\r")
    # The secret the cut edge may run through is masked (the rest is never shown).
    bytes_ = "byte" if dropped == 1 else "bytes"
    said = f"{dropped} more {bytes_} dropped: stderr lines are cut at {MAX_STDERR_LINE} bytes"
    return f"{redact_edges(text, cut_after=True)} [... {said}]"
