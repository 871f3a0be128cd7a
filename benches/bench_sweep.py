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


RELAYS_SWEPT = ["cat", "pump", "pump-passthrough", "python-lines"]


@pytest.mark.parametrize("size", SIZES)
def test_sweep(benchmark: Any, data_dir: Path, size: int) -> None:
    """Every round runs each relay once, in turn, so a load change hits all alike."""
    count = max(16, TOTAL_BYTES // size)
    source = envelope_file(data_dir, count, size)
    total = source.stat().st_size
    rates: dict[str, list[float]] = {relay: [] for relay in RELAYS_SWEPT}

    def once() -> None:
        for relay in RELAYS_SWEPT:
            result = relay_through(source, RELAYS[relay])
            assert result["bytes"] == total and result["frames"] == count
            rates[relay].append(result["bytes"] / result["seconds"])

    benchmark.pedantic(once, rounds=rounds(3), iterations=1, warmup_rounds=warmups())
    for relay in RELAYS_SWEPT:
        values = rates[relay]
        entry = stats(
            values,
            "MB/s",
            1e6,
            label="cat | cat",
            frames_per_s=sorted(values)[len(values) // 2] * count / total,
            frame_bytes=total / count,
        )
        record(SWEEP_GROUP.format(size=size), "baseline" if relay == "cat" else relay, entry)
        benchmark.extra_info[relay] = entry
