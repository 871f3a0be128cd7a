"""The SDK alone, in-process: encode (what an input's read() yields -> frame lines on a
descriptor) and decode (frame lines on stdin -> the batches an output's write() gets).

Each path is the SDK's own runner (InputRun / OutputRun on the uvloop loop the host
uses) with the provider reduced to nothing, and is compared in the same run against
the plain loop a hand-written provider would use (orjson per frame, one write or one
read per MiB), so the ratio is the SDK's overhead.

    pytest benches/bench_sdk.py --benchmark-only
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, Callable

import orjson
import pytest

from benches.conftest import envelope_file, record, rounds, scale, warmups
from benches.procs import stats
from dstream.sdk import Envelope, InputProvider, OutputProvider, host
from dstream.sdk.encode import encode_into
from dstream.sdk.run_input import InputRun
from dstream.sdk.run_output import OutputRun
from dstream.sdk.stdio import FrameWriter, StdinChunks

COUNT = scale(1_000_000)
BATCH = 1000


def row(n: int) -> dict[str, Any]:
    return {
        "data": {"id": n, "name": f"customer-{n}", "amount": n * 1.25, "active": True},
        "metadata": {"TableName": "public.customers", "OperationType": "Insert"},
    }


ROWS = [row(n) for n in range(BATCH)]
ENVELOPES = [Envelope(r["data"], r["metadata"]) for r in ROWS]


def in_loop(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run as the stdio host runs a provider: uvloop, and the host's GC and allocator
    tuning (the GC's restored afterwards, so other benchmarks in this process are not
    affected; the allocator's is a process-wide setting the host makes once)."""
    thresholds = gc.get_threshold()
    for name in ("_tune_gc", "_tune_allocator"):
        tune = getattr(host, name, None)  # private: absent, the defaults are measured
        if tune is not None:
            tune()
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()
        gc.unfreeze()
        gc.set_threshold(*thresholds)


class Rows(InputProvider[None]):
    items: list[Any] = ROWS

    async def read(self) -> AsyncIterator[Any]:
        for _ in range(COUNT // BATCH):
            yield self.items


class EnvelopeRows(Rows):
    items = ENVELOPES


class Counted(OutputProvider[None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.envelopes = 0

    async def write(self, batch: list[Envelope]) -> None:
        self.envelopes += len(batch)


class CountedRaw(Counted):
    async def write_raw(self, lines: bytes) -> None:
        self.envelopes += lines.count(b"\n")


class CountingWriter(FrameWriter):
    def __init__(self, fd: int) -> None:
        super().__init__(fd)
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)
        super().write(data)


def encode_sdk(provider_class: type[Rows]) -> tuple[float, int]:
    """Seconds and bytes for COUNT frames through InputRun into /dev/null."""
    out = CountingWriter(os.open(os.devnull, os.O_WRONLY))
    run = InputRun(provider_class(None), out, None)
    started = time.perf_counter()
    assert in_loop(run.run) == 0
    seconds = time.perf_counter() - started
    out.close()
    # every batch is the same rows: COUNT frames are this many bytes exactly
    parts: list[bytes] = []
    encode_into(parts, provider_class.items)
    assert out.written == COUNT // BATCH * sum(map(len, parts)), out.written
    return seconds, out.written


def encode_plain() -> tuple[float, int]:
    """A hand-written input: orjson per dict, one os.write per batch, to /dev/null."""
    fd = os.open(os.devnull, os.O_WRONLY)
    dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    total = 0
    started = time.perf_counter()
    for _ in range(COUNT // BATCH):
        data = b"".join([dumps(r, option=option) for r in ROWS])
        total += os.write(fd, data)
    seconds = time.perf_counter() - started
    os.close(fd)
    return seconds, total


def decode_sdk(source: Path, provider_class: type[Counted]) -> float:
    fd = os.open(source, os.O_RDONLY)
    sink = os.open(os.devnull, os.O_WRONLY)
    provider = provider_class(None)

    async def main() -> int:
        return await OutputRun(provider, FrameWriter(sink), StdinChunks(fd)).run()

    started = time.perf_counter()
    assert in_loop(main) == 0
    seconds = time.perf_counter() - started
    os.close(fd)
    os.close(sink)
    assert provider.envelopes == COUNT, provider.envelopes
    return seconds


def decode_plain(source: Path) -> float:
    """A hand-written output: 1 MiB reads, split, orjson.loads per line."""
    fd = os.open(source, os.O_RDONLY)
    loads = orjson.loads
    frames = 0
    tail = b""
    started = time.perf_counter()
    while chunk := os.read(fd, 1 << 20):
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        for line in lines:
            loads(line)
            frames += 1
    seconds = time.perf_counter() - started
    os.close(fd)
    assert frames == COUNT
    return seconds


@pytest.fixture(scope="module")
def envelopes_200b(data_dir: Path) -> Path:
    return envelope_file(data_dir, COUNT, 200)


def measure(benchmark: Any, group: str, runs: dict[str, Callable[[], tuple[float, int]]]) -> None:
    rates: dict[str, list[float]] = {name: [] for name in runs}
    sizes: dict[str, int] = {}

    def once() -> None:
        for name, run in runs.items():
            seconds, size = run()
            rates[name].append(COUNT / seconds)
            sizes[name] = size

    benchmark.pedantic(once, rounds=rounds(5), iterations=1, warmup_rounds=warmups())
    for name, values in rates.items():
        mb_per_s = values[len(values) // 2] * sizes[name] / COUNT / 1e6 if sizes[name] else 0
        entry = stats(values, "env/s", label=name, mb_per_s=mb_per_s)
        record(group, "baseline" if name.startswith("plain") else name, entry)
        benchmark.extra_info[name] = entry


def test_encode(benchmark: Any) -> None:
    measure(
        benchmark,
        f"sdk encode {COUNT:,}",
        {
            "plain orjson loop": encode_plain,
            "InputRun, dicts": lambda: encode_sdk(Rows),
            "InputRun, Envelope objects": lambda: encode_sdk(EnvelopeRows),
        },
    )


def test_decode(benchmark: Any, envelopes_200b: Path) -> None:
    size = envelopes_200b.stat().st_size
    measure(
        benchmark,
        f"sdk decode {COUNT:,} x 200B",
        {
            "plain orjson loop": lambda: (decode_plain(envelopes_200b), size),
            "OutputRun, write(batch)": lambda: (decode_sdk(envelopes_200b, Counted), size),
            "OutputRun, write_raw": lambda: (decode_sdk(envelopes_200b, CountedRaw), size),
        },
    )
