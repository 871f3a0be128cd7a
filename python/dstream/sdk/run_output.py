"""Running an output: split stdin into frames, hand data to `write()` in batches and
acknowledge each checkpoint once everything before it was written."""

from __future__ import annotations

from itertools import repeat
from operator import contains
from typing import Any, Generic, Optional

import orjson

from dstream._core import find
from dstream.errors import DstreamError, ExitCode, FrameError
from dstream.protocol.frames import DEFAULT_MAX_FRAME_SIZE, KEY_CHECKPOINT, KEY_DATA
from dstream.sdk.exact import inexact_offsets, loads_exact
from dstream.sdk.log import log
from dstream.sdk.model import Envelope
from dstream.sdk.provider import ConfigT, OutputProvider
from dstream.sdk.stdio import FrameWriter, StdinChunks

Frame = dict[str, Any]  # Any: a decoded frame, its shape checked by the pump already

_CHECKPOINT_KEY = b'"checkpoint"'
_ONLY_DICTS = frozenset({dict})
# Lines decoded before their envelopes are built: measured, 250 to 1000 are alike.
_SLICE = 512
_NONE: frozenset[int] = frozenset()


def _excerpt(line: bytes) -> str:
    text = line[:120].decode("utf-8", "replace")
    return text + ("..." if len(line) > 120 else "")


class OutputRun(Generic[ConfigT]):
    def __init__(
        self,
        provider: OutputProvider[ConfigT],
        out: FrameWriter,
        stdin: StdinChunks,
        *,
        start_offset: int = 0,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        self.provider = provider
        self.out = out
        self.stdin = stdin
        self.offset = start_offset  # stdin offset of the first byte not yet split
        self.max_frame_size = max_frame_size
        self.batch: list[Envelope] = []
        self.stopping = False
        self.frames = 0
        self.acks = 0
        self.calling = "write()"  # the provider's method a failure came from
        self.exact_numbers = provider.exact_numbers
        provider._emit_buffer = []

    def stop(self) -> None:
        """SIGTERM: take no more input; what was read is written and acknowledged."""
        self.stopping = True
        self.stdin.wake()

    async def run(self) -> int:
        self.stdin.start()
        raw = self.provider.raw_frames
        tail = b""
        try:
            while True:
                chunk = await self._next_chunk()
                if chunk is None:
                    break
                if not chunk:  # EOF: a last frame without a newline is accepted
                    if tail.strip():
                        await self._process(tail, b"\n", 1, raw)
                    break
                cut = chunk.rfind(b"\n") + 1
                if cut == 0:
                    tail += chunk
                    self._check_size(tail)
                    continue
                await self._process(tail, chunk, cut, raw)
                # The chunk's acknowledgements in one write: one wake-up of dstream for
                # a chunk, not one per checkpoint.
                self._flush_stdout()
                tail = chunk[cut:]
                self._check_size(tail)
            await self._write_batch()
            await self._provider_flush()
            self._flush_stdout()
            return ExitCode.OK
        except FrameError as exc:
            # Everything before the bad frame is written (not acknowledged past it).
            await self._write_batch_quietly()
            log.error(str(exc), offset=exc.offset, excerpt=exc.excerpt, hint=exc.hint)
            return ExitCode.FAILURE
        except BrokenPipeError:
            log.error("stdout was closed by dstream; stopping")
            return ExitCode.FAILURE
        except DstreamError as exc:  # the provider's own clear error (a full disk, ...)
            log.error(str(exc), hint=exc.hint)
            return ExitCode.FAILURE
        except Exception:  # a bug or an error of the sink: a record with its traceback
            log.exception(f"{self.calling} failed")
            return ExitCode.FAILURE

    async def _next_chunk(self) -> Optional[bytes]:
        """The next chunk, writing a partial batch first when nothing more is waiting."""
        if self.stopping:
            return None
        if self.batch and not self.stdin.ready():
            linger = self.provider.batch_linger
            if linger > 0:
                chunk = await self.stdin.get(timeout=linger)
                if chunk is not None or self.stopping:
                    return chunk
            await self._write_batch()
            self._flush_stdout()
        chunk = await self.stdin.get()
        if chunk is None or self.stopping:
            # Woken by a signal; a chunk already taken is still processed.
            return chunk if chunk else None
        return chunk

    def _check_size(self, tail: bytes) -> None:
        if len(tail) > self.max_frame_size:
            raise FrameError(
                f"frame at stdin offset {self.offset} is longer than {self.max_frame_size} "
                "bytes without a newline",
                offset=self.offset,
                excerpt=_excerpt(tail),
                hint="frames are one JSON object per line; check the input provider",
            )

    async def _process(self, tail: bytes, chunk: bytes, cut: int, raw: bool) -> None:
        """The complete lines `tail + chunk[:cut]` (`tail` is the end of the previous
        chunk). A chunk is never copied whole: concatenating and slicing each 1 MiB chunk
        were two copies of the stream."""
        if raw:
            start = 0
            if tail:  # the line split between the two chunks, on its own
                start = chunk.find(b"\n") + 1
                head = tail + chunk[:start]
                await self._process_raw(head, 0, len(head))
            if cut > start:
                await self._process_raw(chunk, start, cut)
            return
        lines = chunk.split(b"\n")
        lines.pop()  # chunk[cut:], the next tail
        if tail:
            lines[0] = tail + lines[0]
        base = self.offset
        exact = _exact_lines(lines, tail, chunk, cut) if self.exact_numbers else _NONE
        if b"\r" in chunk or b"\r" in tail:  # CRLF: rare enough for the exact loop
            await self._decode_lines(lines, base, exact_lines=exact)
        else:
            await self._decode_run(lines, base, exact)
        self.offset = base + len(tail) + cut

    async def _decode_run(
        self, lines: list[bytes], start: int, exact_lines: frozenset[int] = _NONE
    ) -> None:
        """Lines decoded a slice at a time: each slice fills the batch, and is small
        enough that its objects are still in the CPU cache when the envelopes are built
        (decoding a whole 1 MiB chunk first was slower than the per-line loop). A slice
        that is not all objects (a blank line, an invalid frame) sends the rest of the
        run through the exact loop, which reports an invalid frame with its offset. The
        lines whose index is in `exact_lines` are decoded again, numbers exact."""
        size = max(self.provider.batch_size, 1)
        done = 0
        while done < len(lines):
            room = min(max(size - len(self.batch), 1), _SLICE)
            part = lines[done : done + room] if done or room < len(lines) else lines
            try:
                objs = list(map(orjson.loads, part))
                if exact_lines:
                    _exactly(objs, part, done, exact_lines)
            except ValueError:  # orjson's JSONDecodeError is one
                objs = None
            if objs is None or {*map(type, objs)} != _ONLY_DICTS:
                rest = lines[done:]
                offset = start + sum(map(len, lines[:done])) + done
                later = frozenset(i - done for i in exact_lines if i >= done)
                await self._decode_lines(rest, offset, exact_lines=later)
                return
            # Asking each decoded object is cheaper than searching the bytes for the key
            # (and sees a key spelt with \u escapes).
            if any(map(contains, objs, repeat(KEY_CHECKPOINT))):
                await self._take(objs, part)
            else:
                self.batch += [
                    Envelope(obj.get(KEY_DATA), obj.get("metadata"), line)
                    for obj, line in zip(objs, part)
                ]
                if len(self.batch) >= size:
                    await self._write_batch()
            done += len(part)

    async def _decode_lines(
        self, lines: list[bytes], offset: int, *, exact_lines: frozenset[int] = _NONE
    ) -> None:
        """The exact loop: frames up to the first invalid one are taken, then it is
        reported with its stdin offset (`offset` is that of the first line). The lines
        whose index is in `exact_lines` hold numbers orjson would change: the standard
        library decodes them (dstream.sdk.exact)."""
        objs: list[Frame] = []
        kept: list[bytes] = []
        error: Optional[FrameError] = None
        for index, line in enumerate(lines):
            start = offset
            offset += len(line) + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                continue
            try:
                obj = loads_exact(line) if index in exact_lines else _loads(line)
            except ValueError as exc:  # orjson's JSONDecodeError is one
                error = FrameError(
                    f"frame at stdin offset {start} is not valid JSON ({exc})",
                    offset=start,
                    excerpt=_excerpt(line),
                    hint="each line must be one JSON object; check the input provider",
                )
                break
            if type(obj) is not dict:
                error = FrameError(
                    f"frame at stdin offset {start} is not a JSON object",
                    offset=start,
                    excerpt=_excerpt(line),
                    hint='frames are objects: {"data":...,"metadata":{...}}',
                )
                break
            objs.append(obj)
            kept.append(line)
        await self._take(objs, kept)
        if error is not None:
            self.offset = start
            raise error

    async def _take(self, objs: list[Frame], lines: list[bytes]) -> None:
        """Decoded frames in order: data into batches, each checkpoint acknowledged once
        everything before it was written and flushed."""
        batch = self.batch
        batch_size = self.provider.batch_size
        for obj, line in zip(objs, lines):
            if KEY_CHECKPOINT in obj and KEY_DATA not in obj:
                await self._write_batch()
                await self._provider_flush()
                batch = self.batch
                self._ack(line)
                continue
            batch.append(Envelope(obj.get(KEY_DATA), obj.get("metadata"), line))
            if len(batch) >= batch_size:
                await self._write_batch()
                batch = self.batch

    async def _process_raw(self, data: bytes, start: int, end: int) -> None:
        """The lines `data[start:end]`: checkpoint lines are found without decoding the
        data lines around them, which go to write_raw() as they came."""
        pos = start
        found = find(data, _CHECKPOINT_KEY, start, end)
        while found >= 0:
            line_start = max(data.rfind(b"\n", start, found) + 1, start)
            line_end = data.find(b"\n", found, end)
            line = data[line_start:line_end].rstrip(b"\r")
            if _is_checkpoint(line):
                if line_start > pos:
                    await self._provider_write_raw(data[pos:line_start])
                await self._provider_flush()
                self._ack(line)
                pos = line_end + 1
            found = find(data, _CHECKPOINT_KEY, line_end, end)
        if pos < end:
            whole = pos == 0 and end == len(data)
            await self._provider_write_raw(data if whole else data[pos:end])
        self.offset += end - start

    # The provider's methods, through these: a failure names the one it came from.
    async def _provider_flush(self) -> None:
        self.calling = "flush()"
        await self.provider.flush()

    async def _provider_write_raw(self, data: bytes) -> None:
        self.calling = "write_raw()"
        await self.provider.write_raw(data)

    async def _write_batch(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            self.calling = "write()"
            await self.provider.write(batch)
            self.frames += len(batch)
            self._flush_stdout()

    async def _write_batch_quietly(self) -> None:
        try:
            await self._write_batch()
            self._flush_stdout()
        except Exception:
            log.exception("write() failed while stopping on an invalid frame")

    def _ack(self, line: bytes) -> None:
        """Echo the checkpoint line (everything before it has been written), after the
        provider's own lines; sent with them by the next _flush_stdout, at the latest
        when the chunk that held it is done."""
        self.provider._emit_buffer.append(line + b"\n")
        self.acks += 1

    def _flush_stdout(self) -> None:
        emitted = self.provider._emit_buffer
        if emitted:
            data = b"".join(emitted)
            emitted.clear()
            self.out.write(data)


def _is_checkpoint(line: bytes) -> bool:
    try:
        obj = _loads(line)
    except ValueError:
        return False
    return type(obj) is dict and KEY_CHECKPOINT in obj and KEY_DATA not in obj


def _loads(line: bytes) -> Any:  # Any: a decoded frame, as orjson.loads's
    """orjson's reading of `line`; when orjson refuses it, the standard library's with
    numbers exact (a number beyond a double's range, 1e400, is what orjson refuses in
    a valid line). ValueError with orjson's words when neither reads it."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as refused:
        try:
            return loads_exact(line)
        except ValueError:
            raise refused from None


def _exactly(objs: list[Any], part: list[bytes], first: int, exact_lines: frozenset[int]) -> None:
    """objs[i] decoded again, numbers exact, where first + i is in exact_lines."""
    for index in range(first, first + len(part)):
        if index in exact_lines:
            objs[index - first] = loads_exact(part[index - first])


def _exact_lines(lines: list[bytes], tail: bytes, chunk: bytes, cut: int) -> frozenset[int]:
    """Indexes in `lines` (`tail + chunk[:cut]` split, `tail` joined to the first) of
    the lines holding a number orjson would read as another number."""
    found: set[int] = set()
    first = 0
    if tail:  # the line across the two chunks, on its own
        if inexact_offsets(lines[0], 0, len(lines[0])):
            found.add(0)
        first = chunk.find(b"\n") + 1
    index, pos = (1 if tail else 0), first
    for offset in inexact_offsets(chunk, first, cut):
        index += chunk.count(b"\n", pos, offset)
        pos = offset
        found.add(index)
    return frozenset(found)
