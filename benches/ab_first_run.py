"""Same-round A/B of a first run: counter -> null at 5 M envelopes, each round the
direct pipe, then this tree's `dstream run` and another checkout's (its python/
directory first on PYTHONPATH, a _core built or copied into it), in alternating order,
each in a fresh project (benches/bench_e2e.py `run_dstream`, which checks that every
envelope went through). The ratio of each to the direct pipe, as docs/benchmarks.md
reports it (issue 22):

    python -m benches.ab_first_run ROUNDS OTHER/python

Timed with no RSS sampler (`sample_rss=False`), as the direct pipe is: the sampler's
thread in this process (a /proc read every 20 ms, ~40 us of CPU each: 0.2 % of a CPU)
would be on one side of the comparison only. In 11 same-round A/Bs of a first run at 5 M
it made no difference the rounds' noise could show (medians 1.327 s sampled, 1.332 s
not; per round -9.5 to +12.3 %, median +0.6 %); the A/B figures in docs/benchmarks.md
were measured with one (it says why they stand). DSTREAM_BENCH_SMOKE=1: 50,000 envelopes, to check it runs.

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
                run = run_dstream(fresh, COUNT, env=trees[name], sample_rss=False)
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
