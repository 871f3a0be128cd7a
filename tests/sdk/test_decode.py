"""The output host's decoding of stdin, in-process: runs of data lines take a fast path,
checkpoint candidates and anything unusual the exact per-line loop. Both must give the
same batches, acknowledgements and error offsets."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from typing import Any, Optional

import orjson
import pytest

from dstream.sdk import Envelope, OutputProvider
from dstream.sdk.run_output import OutputRun
from dstream.sdk.stdio import FrameWriter, StdinChunks

# The stdin offset of the first frame: what a command line before it would take.
START = 57


class Recorder(OutputProvider[None]):
    batch_size = 4

    def __init__(self, events: list[Any]) -> None:
        super().__init__(None)
        self.events = events
        self.batch_sizes: list[int] = []

    async def write(self, batch: list[Envelope]) -> None:
        self.batch_sizes.append(len(batch))
        self.events.extend(("data", e.data, e.metadata, e.raw) for e in batch)

    async def flush(self) -> None:
        self.events.append(("flush",))


class Acks(FrameWriter):
    def __init__(self, events: list[Any]) -> None:
        super().__init__(-1)
        self.events = events

    def write(self, data: bytes) -> None:
        self.events.extend(("ack", line) for line in data.splitlines())


class RawRecorder(Recorder):
    async def write_raw(self, lines: bytes) -> None:
        if self.events and self.events[-1][0] == "raw":  # how chunks cut it is not the point
            self.events[-1] = ("raw", self.events[-1][1] + lines)
        else:
            self.events.append(("raw", lines))


def decode(
    tmp_path: Path,
    stream: bytes,
    chunk_size: int = 1 << 20,
    batch_size: int = 4,
    provider_class: type[Recorder] = Recorder,
    max_frame_size: int = 1 << 20,
) -> tuple[int, list[Any], list[int]]:
    """Exit code, events (writes flattened, flushes, acks) and the size of each write."""
    source = tmp_path / "stdin"
    source.write_bytes(stream)
    events: list[Any] = []
    provider = provider_class(events)
    provider.batch_size = batch_size
    fd = os.open(source, os.O_RDONLY)
    try:
        stdin = StdinChunks(fd, chunk_size=chunk_size)

        async def main() -> int:
            run = OutputRun(
                provider, Acks(events), stdin, start_offset=START, max_frame_size=max_frame_size
            )
            return await run.run()

        code = asyncio.run(main())
    finally:
        # Its reader thread, ahead of a run that stopped early, read the next test's file
        # once this descriptor's number went to it (a chunk lost under load).
        stdin.close()
        os.close(fd)
    return code, events, provider.batch_sizes


def expected(stream: bytes) -> tuple[list[Any], Optional[int]]:
    """The contract, one line at a time: data in order, each checkpoint acknowledged
    after a flush, and the offset of the first invalid frame (where everything stops)."""
    events: list[Any] = []
    offset = START
    for line in stream.split(b"\n"):
        start, offset = offset, offset + len(line) + 1
        line = line[:-1] if line.endswith(b"\r") else line
        if not line:
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return events, start
        if type(obj) is not dict:
            return events, start
        if "checkpoint" in obj and "data" not in obj:
            events += [("flush",), ("ack", line)]
        else:
            events.append(("data", obj.get("data"), obj.get("metadata"), line))
    return events, None


def assert_contract(events: list[Any], want: list[Any]) -> None:
    """`events` deliver what `want` (one event per line, each ack right after a flush)
    does, as the contract asks and no more: the same data in the same order (raw bytes
    compared whole, however write_raw() calls cut them), the same acks in order, and
    each ack only after a flush that followed every data line before its checkpoint. An
    ack may come later than in `want`: acks are sent a chunk at a time."""

    def shape(seq: list[Any]) -> tuple[list[Any], bytes, list[bytes], list[int], list[int]]:
        data: list[Any] = []
        raw = b""
        acks: list[bytes] = []
        flushed = 0  # data (events, or raw bytes) before the last flush
        covered: list[int] = []  # for each ack: the data a flush had covered by then
        needed: list[int] = []  # for each ack: the data before its checkpoint
        for event in seq:
            if event[0] == "data":
                data.append(event)
            elif event[0] == "raw":
                raw += event[1]
            elif event[0] == "flush":
                flushed = len(data) + len(raw)
            else:
                acks.append(event[1])
                covered.append(flushed)
                needed.append(len(data) + len(raw))
        return data, raw, acks, covered, needed

    data, raw, acks, covered, _ = shape(events)
    want_data, want_raw, want_acks, _, needed = shape(want)
    assert data == want_data
    assert raw == want_raw
    assert acks == want_acks
    assert all(c >= n for c, n in zip(covered, needed)), (covered, needed)


def lines(*objs: Any) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objs)


def test_a_block_mixing_checkpoints_and_data_is_written_and_acknowledged_in_order(
    tmp_path: Path,
) -> None:
    stream = lines(
        {"checkpoint": 0},
        *({"data": n, "metadata": {"seq": n}} for n in range(1, 7)),
        {"data": {"note": 'says "checkpoint" inside'}, "metadata": {}},
        {"checkpoint": "b", "data": "has data: so it is data"},
        {"checkpoint": 1},
        {"checkpoint": 2},
        {"data": 9, "extra": True},
        {"checkpoint": 3},
    )
    code, events, sizes = decode(tmp_path, stream)
    assert code == 0
    assert_contract(events, expected(stream)[0])
    # Batches fill up to batch_size inside a block; a checkpoint writes the partial one.
    assert sizes == [4, 4, 1]
    assert ("ack", b'{"checkpoint":1}') in events


def test_batches_are_cut_at_batch_size_across_a_long_run(tmp_path: Path) -> None:
    stream = lines(*({"data": n} for n in range(10)))
    code, events, sizes = decode(tmp_path, stream, batch_size=3)
    assert code == 0
    assert sizes == [3, 3, 3, 1]
    assert [e[1] for e in events if e[0] == "data"] == list(range(10))


def test_crlf_and_blank_lines_are_tolerated_and_raw_excludes_the_cr(tmp_path: Path) -> None:
    stream = b'{"data":1}\r\n\r\n\n{"checkpoint":1}\r\n{"data":2,"metadata":{"k":"v"}}\r\n'
    code, events, _ = decode(tmp_path, stream)
    assert code == 0
    assert_contract(
        events,
        [
            ("data", 1, None, b'{"data":1}'),
            ("flush",),
            ("ack", b'{"checkpoint":1}'),
            ("data", 2, {"k": "v"}, b'{"data":2,"metadata":{"k":"v"}}'),
        ],
    )


def test_a_blank_line_inside_a_run_of_data_is_skipped(tmp_path: Path) -> None:
    stream = b'{"data":1}\n\n{"data":2}\n  \n'
    code, events, _ = decode(tmp_path, stream[: stream.index(b"  ")])
    assert code == 0
    assert [e[1] for e in events if e[0] == "data"] == [1, 2]


@pytest.mark.parametrize(
    "bad, why",
    [
        (b'{"data": 3, oops', "is not valid JSON"),
        (b"[1, 2]", "is not a JSON object"),
        (b"  ", "is not valid JSON"),
        (b'{"data":1} {"data":2}', "is not valid JSON"),
    ],
)
def test_an_invalid_frame_in_the_middle_of_a_block_is_reported_at_its_offset(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], bad: bytes, why: str
) -> None:
    head = lines(*({"data": n} for n in range(6)), {"checkpoint": 1}, {"data": 6})
    stream = head + bad + b"\n" + lines({"data": 7}, {"checkpoint": 2})
    code, events, _ = decode(tmp_path, stream)
    assert code == 1
    want, bad_offset = expected(stream)
    assert bad_offset == START + len(head)
    assert_contract(events, want)  # everything before it, nothing after
    record = next(r for r in map(orjson.loads, capfd.readouterr().err.splitlines()))
    assert record["offset"] == bad_offset and why in record["msg"]


def test_a_checkpoint_key_spelt_with_escapes_is_still_a_checkpoint(tmp_path: Path) -> None:
    stream = (
        b'{"data":"caf\\u00e9"}\n'
        b'{"\\u0063heckpoint":5}\n'
        b'{"data":"\\u0063heckpoint","metadata":{}}\n'
        b'{"che\\u0063kpoint":6,"data":1}\n'
    )
    code, events, _ = decode(tmp_path, stream)
    assert code == 0
    assert_contract(events, expected(stream)[0])
    assert [e[1] for e in events if e[0] == "ack"] == [b'{"\\u0063heckpoint":5}']


@pytest.mark.parametrize("seed", range(8))
def test_random_streams_in_small_chunks_match_the_per_line_contract(
    tmp_path: Path, seed: int
) -> None:
    """Chunk ends fall anywhere: mid-line, on a checkpoint, inside a CRLF."""
    rng = random.Random(seed)
    kinds = ["data"] * 12 + ["checkpoint", "mention", "both", "blank", "crlf", "escaped", "spelt"]
    out = []
    for n in range(400):
        kind = rng.choice(kinds)
        if kind == "data":
            out.append(lines({"data": {"n": n, "pad": "x" * rng.randrange(40)}, "metadata": {}}))
        elif kind == "checkpoint":
            out.append(lines({"checkpoint": n}))
        elif kind == "mention":
            out.append(lines({"data": "checkpoint", "metadata": {"checkpoint": n}}))
        elif kind == "both":
            out.append(lines({"checkpoint": n, "data": n}))
        elif kind == "blank":
            out.append(b"\n")
        elif kind == "crlf":
            out.append(lines({"data": n})[:-1] + b"\r\n")
        elif kind == "escaped":
            out.append(b'{"data":"\\u00e9%d"}\n' % n)
        else:
            out.append(b'{"\\u0063heckpoint":%d}\n' % n)
    if seed % 2:
        out.insert(rng.randrange(200, 400), b'{"data": broken\n')
    stream = b"".join(out)
    code, events, sizes = decode(tmp_path, stream, chunk_size=rng.choice([64, 333, 4096]))
    want, bad = expected(stream)
    assert code == (1 if bad is not None else 0)
    assert_contract(events, want)
    assert all(0 < size <= 4 for size in sizes)


def test_a_long_run_is_decoded_in_slices_and_a_late_bad_frame_keeps_its_offset(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """More lines than one decoding slice and a batch larger than it: the bad frame's
    offset is counted through the slices already decoded."""
    head = lines(*({"data": n, "metadata": {"pad": "y" * (n % 13)}} for n in range(1500)))
    stream = head + b'{"data": oops}\n' + lines({"data": 1500})
    code, events, sizes = decode(tmp_path, stream, batch_size=1000)
    assert code == 1
    want, bad_offset = expected(stream)
    assert_contract(events, want)
    assert sizes == [1000, 500]
    record = next(r for r in map(orjson.loads, capfd.readouterr().err.splitlines()))
    assert record["offset"] == bad_offset == START + len(head)


def expected_raw(stream: bytes) -> list[Any]:
    """write_raw() gets the data lines as they came (CRs, blank lines and all); the host
    takes out the checkpoint lines, found by their literal key, and acknowledges them."""
    events: list[Any] = []
    for line in stream.splitlines(keepends=True):
        bare = line.rstrip(b"\n").rstrip(b"\r")
        obj = orjson.loads(bare) if b'"checkpoint"' in bare else None
        if type(obj) is dict and "checkpoint" in obj and "data" not in obj:
            events += [("flush",), ("ack", bare)]
        elif events and events[-1][0] == "raw":
            events[-1] = ("raw", events[-1][1] + line)
        else:
            events.append(("raw", line))
    return events


@pytest.mark.parametrize("seed", range(6))
def test_raw_frames_in_small_chunks_keep_their_bytes_and_acknowledgements(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    out = []
    for n in range(300):
        kind = rng.choice(["data"] * 8 + ["checkpoint", "mention", "both", "blank", "crlf"])
        if kind == "data":
            out.append(lines({"data": {"n": n, "pad": "x" * rng.randrange(60)}}))
        elif kind == "checkpoint":
            out.append(lines({"checkpoint": n})[:-1] + rng.choice([b"\n", b"\r\n"]))
        elif kind == "mention":
            out.append(lines({"data": "checkpoint", "metadata": {"note": '"checkpoint"'}}))
        elif kind == "both":
            out.append(lines({"checkpoint": n, "data": n}))
        elif kind == "blank":
            out.append(b"\n")
        else:
            out.append(lines({"data": n})[:-1] + b"\r\n")
    stream = b"".join(out) + b'{"checkpoint":"last, no newline"}'
    chunk_size = rng.choice([7, 64, 333, 4096])
    code, events, _ = decode(tmp_path, stream, chunk_size=chunk_size, provider_class=RawRecorder)
    assert code == 0
    assert_contract(events, expected_raw(stream + b"\n"))


def test_a_frame_over_the_size_limit_stops_after_the_frames_before_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The limit applies to a line still waiting for its newline at a chunk's end, here
    one chunk that also holds the complete frames before it."""
    head = lines({"data": 1}, {"checkpoint": 1}, {"data": 2})
    stream = head + b'{"data":"' + b"y" * 300 + b'"}\n' + lines({"data": 3})
    code, events, _ = decode(tmp_path, stream, chunk_size=len(head) + 200, max_frame_size=100)
    assert code == 1
    assert_contract(events, expected(head)[0])
    record = next(r for r in map(orjson.loads, capfd.readouterr().err.splitlines()))
    assert record["offset"] == START + len(head) and "longer than 100 bytes" in record["msg"]
