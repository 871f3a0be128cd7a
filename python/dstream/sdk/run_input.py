"""Running an input: drain `read()` into frame lines and write them in batches."""

from __future__ import annotations

import asyncio
from typing import Generic, Optional

import orjson

from dstream.errors import ExitCode
from dstream.protocol.frames import KEY_COMMITTED
from dstream.sdk.encode import encode_into, whole_lines
from dstream.sdk.log import log
from dstream.sdk.provider import ConfigT, InputProvider
from dstream.sdk.stdio import FrameWriter, StdinChunks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.protocol.values import JsonValue

# Frames buffered before a write: large enough to amortise the syscall, small enough
# that a slow trickle is never held back (the buffer is also written whenever read()
# waits for its source).
FLUSH_FRAMES = 2048
# The same for bytes yielded by read() (lines it encoded itself): counted by volume,
# because counting their newlines took a tenth of dstream-counter's time.
FLUSH_BYTES = 1 << 19


class InputRun(Generic[ConfigT]):
    def __init__(
        self,
        provider: InputProvider[ConfigT],
        out: FrameWriter,
        notices: Optional[StdinChunks],
    ) -> None:
        self.provider = provider
        self.out = out
        # The commit-notice channel (DSTREAM_COMMIT_FD, or stdin without one); None
        # when the provider has no on_commit.
        self.stdin = notices
        self.parts: list[bytes] = []
        self.written = 0  # bytes, for the log line of a stop
        self.stopping = False
        self.failed: Optional[BaseException] = None
        self._flush_scheduled = False
        self._drain: Optional[asyncio.Task[None]] = None
        self._pending_commit: JsonValue = None
        self._has_commit = False
        self._commit_wakeup: Optional[asyncio.Event] = None

    def flush(self) -> None:
        self._flush_scheduled = False
        if self.parts:
            data = b"".join(self.parts)
            self.parts.clear()
            self.out.write(data)
            self.written += len(data)

    def _flush_soon(self) -> None:
        # A callback: an error here would only reach the loop's handler, and read()
        # would go on producing into a closed pipe. End the run instead.
        try:
            self.flush()
        except BrokenPipeError as exc:
            _reader_gone()
            self.failed = exc
            self.stop()
        except OSError as exc:
            log.error("cannot write to stdout; stopping", error=str(exc))
            self.failed = exc
            self.stop()

    def stop(self) -> None:
        """SIGTERM: stop reading; what was produced is still written."""
        self.stopping = True
        if self._drain is not None and not self._drain.done():
            self._drain.cancel()

    async def _drain_read(self) -> None:
        parts = self.parts
        loop = asyncio.get_running_loop()
        pending = pending_bytes = 0
        async for item in self.provider.read():
            if type(item) is bytes:
                parts.append(whole_lines(item))
                pending_bytes += len(item)
            else:
                pending += encode_into(parts, item)
            if pending >= FLUSH_FRAMES or pending_bytes >= FLUSH_BYTES:
                pending = pending_bytes = 0
                self.flush()
                # Let signals, commit notices and the provider's own tasks run even
                # when read() never waits.
                await asyncio.sleep(0)
            elif not self._flush_scheduled:
                # Runs as soon as read() waits for its source: a slow stream is written
                # promptly, a fast one in big batches.
                self._flush_scheduled = True
                loop.call_soon(self._flush_soon)

    async def run(self) -> int:
        notices: Optional[asyncio.Task[None]] = None
        committer: Optional[asyncio.Task[None]] = None
        if self.stdin is not None:
            self._commit_wakeup = asyncio.Event()
            self.stdin.start()
            notices = asyncio.ensure_future(self._read_notices())
            committer = asyncio.ensure_future(self._deliver_commits())
        self._drain = asyncio.ensure_future(self._drain_read())
        code: int = ExitCode.OK
        try:
            await self._drain
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            if self.failed is None:
                log.info("stopped by signal; writing what was produced", bytes=self.written)
        except BrokenPipeError:
            _reader_gone()
            code = ExitCode.FAILURE
        except Exception:
            log.exception("read() failed")
            code = ExitCode.FAILURE
        try:
            self.flush()
        except OSError:
            code = ExitCode.FAILURE
        for task in (notices, committer):
            if task is not None:
                task.cancel()
        if self.failed is not None:
            code = ExitCode.FAILURE
        return code

    async def _read_notices(self) -> None:
        """Keep only the newest `{"committed":...}` line and wake the committer."""
        assert self.stdin is not None and self._commit_wakeup is not None
        tail = b""
        while True:
            chunk = await self.stdin.get()
            if not chunk:
                return  # EOF (dstream closed stdin) or woken to stop
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            for line in reversed(lines):
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError:
                    log.warning("ignoring a notice line that is not JSON", line=line[:200])
                    continue
                if isinstance(obj, dict) and KEY_COMMITTED in obj:
                    self._pending_commit = obj[KEY_COMMITTED]
                    self._has_commit = True
                    self._commit_wakeup.set()
                    break  # older lines in this chunk are superseded

    async def _deliver_commits(self) -> None:
        assert self._commit_wakeup is not None
        while True:
            await self._commit_wakeup.wait()
            self._commit_wakeup.clear()
            if not self._has_commit:
                continue
            value, self._has_commit = self._pending_commit, False
            try:
                await self.provider.on_commit(value)
            except Exception as exc:
                log.exception("on_commit() failed", checkpoint=value)
                self.failed = exc
                self.stop()
                return


def _reader_gone() -> None:
    # Under dstream this follows a failure it reports itself (it stops reading a run's
    # input once the run cannot go on): a warning here, not a second error.
    log.warning("stdout was closed by its reader; stopping")
