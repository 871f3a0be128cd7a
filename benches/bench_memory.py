"""Memory: dstream's own RSS while a fast input (the counter, as fast as it goes) feeds an
output that stops reading for 10 s. Everything upstream must wait on full pipes; the
dstream process must not buffer what it cannot deliver, so its RSS stays flat through
the stall. (Peak RSS during normal runs is measured in bench_e2e and bench_peers.)

The stall is timed by the output itself (it reports when it stopped and resumed
reading); RSS is sampled every 20 ms. The growth bound asserted here is no speed
figure but the design's "bounded memory whatever the speed difference".

    pytest benches/bench_memory.py --benchmark-only
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benches.conftest import SMOKE, record, rounds, scale
from benches.procs import script, stats, timed, write_project

STALL_SECONDS = 3.0 if SMOKE else 10.0
# Far more than all pipe buffers hold: ~150 B each, 300 MB in all (30 MB in smoke).
COUNT = scale(2_000_000) * (5 if SMOKE else 1)
# Settling time after the stall begins: pipes fill, the pump reaches its steady state.
SETTLE_SECONDS = 1.0
# What "flat" tolerates: allocator noise, never the data (hundreds of MB here).
MAX_GROWTH_MB = 16.0


def run_stalled(directory: Path) -> dict[str, Any]:
    output = directory / "stalled.sh"
    output.parent.mkdir(parents=True, exist_ok=True)
    stalled = Path(__file__).parent / "providers" / "stalled_output.py"
    output.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{stalled}'\n")
    output.chmod(0o755)
    report = directory / "report.json"
    write_project(
        directory,
        "stall",
        "dstream-counter",
        f"      interval = 0\n      max_count = {COUNT}",
        str(output),
        f'      stall_seconds = {STALL_SECONDS}\n      report = "{report}"',
    )
    result = timed([script("dstream"), "run", "stall", "-q", "--json"], directory)
    task = json.loads(result["stdout"])["tasks"][0]
    got = json.loads(report.read_text())
    # Nothing lost: the output counted every envelope and checkpoint dstream forwarded.
    assert task["counters"]["data_frames"] == COUNT, task
    assert got["frames"] == task["counters"]["frames"], (got, task["counters"])
    began = got["stall_began"] + SETTLE_SECONDS
    during = [kb / 1024 for t, kb in result["series"] if began <= t <= got["stall_ended"]]
    assert len(during) >= 10, "too few RSS samples in the stall window"
    return {
        "peak_mb": result["root_mb"],
        "start_mb": during[0],
        "max_mb": max(during),
        "growth_mb": max(during) - during[0],
    }


def test_stalled_output_keeps_rss_flat(benchmark: Any, tmp_path: Path) -> None:
    results: list[dict[str, Any]] = []
    numbers = iter(range(1000))

    def once() -> None:
        results.append(run_stalled(tmp_path / f"round{next(numbers)}"))

    benchmark.pedantic(once, rounds=rounds(3), iterations=1, warmup_rounds=0)
    group = f"stalled output {STALL_SECONDS:.0f} s"
    for key, label in (
        ("start_mb", "RSS when the stall began"),
        ("max_mb", "RSS max during the stall"),
        ("growth_mb", "growth during the stall"),
        ("peak_mb", "peak RSS of the whole run"),
    ):
        values = [r[key] for r in results]
        record(group, label, stats(values, "MB", fmt=".1f", compare=False))
        benchmark.extra_info[key] = stats(values, "MB", fmt=".1f", compare=False)
    worst = max(r["growth_mb"] for r in results)
    assert worst <= MAX_GROWTH_MB, f"dstream grew {worst:.1f} MB while its output stalled"
