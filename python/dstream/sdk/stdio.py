"""The host's two byte streams: frames out on stdout, chunks in from stdin.

stdout is written with blocking `os.write` calls on a private duplicate of fd 1 (the
host points fd 1 itself at stderr, so a stray print() or a C library cannot corrupt the
data stream). Blocking is what an input wants: when dstream's pump is slower, the
producer simply waits. stdin is read by a daemon thread in large chunks, so the event
loop stays free for the provider's own async work (broker heartbeats, DB drivers) while
no input is waiting, and so a plain file or a pipe work alike without touching the
descriptor's flags.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
import threading
from typing import Optional

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from dstream.errors import DstreamError
from dstream.protocol.frames import DEFAULT_MAX_FRAME_SIZE

CHUNK_SIZE = 1 << 20
PIPE_SIZE = 1 << 20
# Chunks read ahead of the provider: bounds memory at CHUNK_SIZE * READ_AHEAD.
READ_AHEAD = 4


class FrameWriter:
    """Blocking, whole writes to one descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def take_over_stdout() -> FrameWriter:
    """Keep fd 1 for frames only: frames go to a duplicate; fd 1 becomes stderr."""
    frames_fd = os.dup(1)
    os.dup2(2, 1)
    widen_pipe(frames_fd)
    return FrameWriter(frames_fd)


def widen_pipe(fd: int) -> None:
    """Ask for a 1 MiB pipe buffer (Linux): 16 times fewer wake-ups of reader and writer
    than the default 64 KiB. Not a pipe, not Linux, or over the system's limit: no-op."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", 1031) if fcntl is not None else None
    if set_size is None or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, set_size, PIPE_SIZE)


def read_first_line(fd: int = 0, limit: int = DEFAULT_MAX_FRAME_SIZE) -> tuple[bytes, bytes]:
    """The command line and whatever arrived after it in the same reads. Returns
    (b"", b"") when stdin is empty."""
    buffered = bytearray()
    while True:
        newline = buffered.find(b"\n")
        if newline >= 0:
            return bytes(buffered[:newline]).rstrip(b"\r"), bytes(buffered[newline + 1 :])
        if len(buffered) > limit:
            raise DstreamError(
                f"the command line on stdin is longer than {limit} bytes without a newline",
                hint="dstream writes one JSON line first; check what is piped into the provider",
            )
        data = os.read(fd, 65536)
        if not data:
            return bytes(buffered).rstrip(b"\r"), b""
        buffered += data


class StdinChunks:
    """Chunks of stdin (or of another descriptor: an input's commit notices come on
    DSTREAM_COMMIT_FD) produced by a reader thread; `b""` marks EOF. `wake()` makes a
    waiting `get()` return None (used to stop on a signal)."""

    def __init__(self, fd: int = 0, initial: bytes = b"", chunk_size: int = CHUNK_SIZE) -> None:
        self.fd = fd
        self.chunk_size = chunk_size
        self._first: Optional[bytes] = initial or None
        self._slots = threading.Semaphore(READ_AHEAD)
        self._queue: Optional[asyncio.Queue[Optional[bytes]]] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._getter: Optional[asyncio.Future[Optional[bytes]]] = None
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        self.eof = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        widen_pipe(self.fd)
        self._thread = threading.Thread(target=self._read_loop, name="dstream-stdin", daemon=True)
        self._thread.start()

    def close(self, timeout: Optional[float] = None) -> None:
        """Stop the reader thread and wait for it (at most `timeout` seconds): one that
        reads ahead of a run that stopped early would otherwise read `fd` on, after whoever
        owns it closed it and the number went to another file (a host that runs providers
        in one process, the SDK's tests)."""
        self._closed = True
        self._slots.release()  # a thread waiting for a slot reads no more
        if self._thread is not None:
            self._thread.join(timeout)

    def _read_loop(self) -> None:
        assert self._loop is not None and self._queue is not None
        queue, loop = self._queue, self._loop
        while True:
            self._slots.acquire()
            if self._closed:
                return
            try:
                data = os.read(self.fd, self.chunk_size)
            except OSError:
                data = b""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, data)
            except RuntimeError:
                return  # the loop is closed: the provider is exiting
            if not data:
                return

    def ready(self) -> bool:
        """Whether a chunk can be had without waiting."""
        if self._first is not None:
            return True
        if self._getter is not None:
            return self._getter.done()
        return self._queue is not None and not self._queue.empty()

    async def get(self, timeout: Optional[float] = None) -> Optional[bytes]:
        """The next chunk; None when woken by `wake()` or when `timeout` passed (the
        pending read is kept for the next call, so nothing is lost)."""
        if self._first is not None:
            first, self._first = self._first, None
            return first
        assert self._queue is not None
        if self._getter is None:
            self._getter = asyncio.ensure_future(self._queue.get())
        if timeout is not None:
            done, _ = await asyncio.wait({self._getter}, timeout=timeout)
            if not done:
                return None
        data = await self._getter
        self._getter = None
        if data is not None:
            self._slots.release()
            if not data:
                self.eof = True
        return data

    def wake(self) -> None:
        if self._queue is not None:
            self._queue.put_nowait(None)
