"""Same-round A/B of a first run: counter -> null at 5 M envelopes, each round the
direct pipe, then this tree's `dstream run` and another checkout's (its python/
directory first on PYTHONPATH, a _core built or copied into it), in alternating order,
each in a fresh project (benches/bench_e2e.py `run_dstream`, which checks that every
envelope went through). The ratio of each to the direct pipe, as docs/benchmarks.md
reports it (issue 22):

    python -m benches.ab_first_run ROUNDS OTHER/python

dstream's runs are timed with their RSS sampled, as bench_e2e's are; the direct pipe's
without. That the sampler does not bias the comparison was measured: docs/benchmarks.md,
the issue 22 A/B section ("e2e counter->null 5,000,000"). DSTREAM_BENCH_SMOKE=1: 50,000
envelopes, to check it runs.

A script, not a pytest suite: it compares two trees, which no CI run has."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

from benches.bench_e2e import run_direct, run_dstream
from benches.conftest import SMOKE, scale

COUNT = scale(5_000_000)


def main(rounds: int, other: str) -> None:
    trees = {"this tree": dict(os.environ), other: {**os.environ, "PYTHONPATH": other}}
    wall: dict[str, list[float]] = {"direct": [], **{name: [] for name in trees}}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(rounds):
            wall["direct"].append(run_direct(COUNT)["seconds"])
            names = list(trees) if n % 2 == 0 else list(reversed(trees))
            for i, name in enumerate(names):
                fresh = Path(tmp, f"r{n}-{i}")
                run = run_dstream(fresh, COUNT, env=trees[name])
                wall[name].append(run["seconds"])
    direct = statistics.median(wall["direct"])
    if SMOKE:
        print(f"SMOKE ({COUNT:,} envelopes): the figures mean nothing")
    for name in trees:
        per_round = statistics.median(d / s for d, s in zip(wall["direct"], wall[name]))
        print(
            f"{name}: {100 * direct / statistics.median(wall[name]):.1f} % of the direct pipe "
            f"(per round {100 * per_round:.1f} %), median {statistics.median(wall[name]):.3f} s, "
            f"direct {direct:.3f} s"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
