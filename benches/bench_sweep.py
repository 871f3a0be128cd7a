"""Throughput against envelope size, 64 B ... 64 KiB, for the pump (validating and
passthrough), the plain relay (`cat`) and the Python line relay: the data behind
docs/img/pump-throughput.png (drawn by `python -m benches.report`).

Each size moves the same 64 MB (a few hundred KB in smoke mode), measured by the sink
from first byte to EOF, like bench_pump.

    pytest benches/bench_sweep.py --benchmark-only
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benches.conftest import SMOKE, envelope_file, record, relay_through, rounds, warmups
from benches.procs import stats
from benches.relays import RELAYS

SIZES = [64, 256, 1024, 4096, 16384, 65536]
TOTAL_BYTES = 1 << 20 if SMOKE else 64 << 20
SWEEP_GROUP = "sweep {size} B"


@pytest.mark.parametrize("relay", ["cat", "pump", "pump-passthrough", "python-lines"])
@pytest.mark.parametrize("size", SIZES)
def test_sweep(benchmark: Any, data_dir: Path, size: int, relay: str) -> None:
    count = max(16, TOTAL_BYTES // size)
    source = envelope_file(data_dir, count, size)
    total = source.stat().st_size
    rates: list[float] = []

    def once() -> None:
        result = relay_through(source, RELAYS[relay])
        assert result["bytes"] == total and result["frames"] == count
        rates.append(result["bytes"] / result["seconds"])

    benchmark.pedantic(once, rounds=rounds(3), iterations=1, warmup_rounds=warmups())
    entry = stats(
        rates,
        "MB/s",
        1e6,
        label="cat | cat",
        frames_per_s=rates[len(rates) // 2] * count / total,
        frame_bytes=total / count,
    )
    record(SWEEP_GROUP.format(size=size), "baseline" if relay == "cat" else relay, entry)
    benchmark.extra_info.update(entry)
