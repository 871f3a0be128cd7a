"""Same-round A/B of a first run: counter -> null at 5 M envelopes, each round the
direct pipe, then this tree's `dstream run` and another checkout's (its python/
directory first on PYTHONPATH, a _core built or copied into it), in alternating order,
each in a fresh project. The ratio of each to the direct pipe, as docs/benchmarks.md
reports it (issue 22):

    python -m benches.ab_first_run ROUNDS OTHER/python

A script, not a pytest suite: it compares two trees, which no CI run has."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benches.bench_e2e import run_direct
from benches.procs import script, write_project

COUNT = 5_000_000


def first_run(directory: Path, env: dict[str, str]) -> float:
    """Wall seconds of `dstream run` in a fresh project at `directory`."""
    config = f"      interval = 0\n      max_count = {COUNT}"
    write_project(directory, "bench", script("dstream-counter"), config, script("dstream-null"), "")
    started = time.perf_counter()
    done = subprocess.run(
        [script("dstream"), "run", "bench", "-q", "--json"], cwd=directory, env=env,
        capture_output=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode(errors="replace")[-2000:])
    return seconds


def main(rounds: int, other: str) -> None:
    trees = {"this tree": dict(os.environ), other: {**os.environ, "PYTHONPATH": other}}
    wall: dict[str, list[float]] = {"direct": [], **{name: [] for name in trees}}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(rounds):
            wall["direct"].append(run_direct(COUNT)["seconds"])
            names = list(trees) if n % 2 == 0 else list(reversed(trees))
            for i, name in enumerate(names):
                wall[name].append(first_run(Path(tmp, f"r{n}-{i}"), trees[name]))
    direct = statistics.median(wall["direct"])
    for name in trees:
        per_round = statistics.median(d / s for d, s in zip(wall["direct"], wall[name]))
        print(
            f"{name}: {100 * direct / statistics.median(wall[name]):.1f} % of the direct pipe "
            f"(per round {100 * per_round:.1f} %), median {statistics.median(wall[name]):.3f} s, "
            f"direct {direct:.3f} s"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
