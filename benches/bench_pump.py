"""The pump alone: fixed files of envelopes, source `cat`, sink a counting reader.

Compared in the same run against a plain relay of the same bytes (`cat | cat`) and a
line relay written in Python. Throughput is the sink's own measurement (first byte to
EOF), so process start-up is not counted for any relay.

    pytest benches/bench_pump.py --benchmark-only
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pytest

from benches.conftest import envelope_file, record, relay_through, rounds, scale, warmups
from benches.relays import RELAYS

SETS = {"200B": (scale(1_000_000), 200), "4KB": (scale(100_000), 4096)}


@pytest.mark.parametrize("relay", ["cat", "pump", "pump-passthrough", "python-lines"])
@pytest.mark.parametrize("size", list(SETS))
def test_pump_throughput(benchmark: Any, data_dir: Path, size: str, relay: str) -> None:
    count, frame = SETS[size]
    source = envelope_file(data_dir, count, frame)
    rates: list[float] = []

    def once() -> None:
        stats = relay_through(source, RELAYS[relay])
        assert stats["bytes"] == source.stat().st_size  # nothing lost, nothing added
        assert stats["frames"] == count
        rates.append(stats["bytes"] / stats["seconds"])

    benchmark.pedantic(once, rounds=rounds(5), iterations=1, warmup_rounds=warmups())
    rate = statistics.median(rates)
    benchmark.extra_info.update(
        {
            "MB_per_s": {"min": min(rates) / 1e6, "median": rate / 1e6, "max": max(rates) / 1e6},
            "frames_per_s_median": rate / source.stat().st_size * count,
        }
    )
    name = "baseline" if relay == "cat" else relay
    record(
        f"pump {count:,} x {size}",
        name,
        {
            "label": "cat | cat",
            "rate": rate,
            "min": min(rates),
            "max": max(rates),
            "display": f"{rate / 1e6:8.0f} MB/s (min {min(rates) / 1e6:.0f}, "
            f"max {max(rates) / 1e6:.0f}), {rate / source.stat().st_size * count:,.0f} frames/s",
        },
    )
