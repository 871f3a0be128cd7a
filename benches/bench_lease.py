"""The cost of leases and fencing: one task, counter -> null, stored in the PostgreSQL
state (a lease renewed every 3 s, each checkpoint write checked against its epoch in
its transaction) against the single-host file backend, side by side in the same run.
Two figures per backend: envelopes/s while streaming (the run summary's
frames_per_second: providers started, state store already open — the cost of renewals
and fenced writes) and over the whole process (start-up included: opening the database
connections, taking the lease). commit_interval = 1 s, the setting the target (<= 5 %
loss) is stated for. The PostgreSQL server is local (loopback), so
the figure is the protocol's cost, not a network's.

    pytest benches/bench_lease.py --benchmark-only
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.services import PostgresServer, postgres

from benches.conftest import record, rounds, scale, warmups
from benches.procs import script, stats, timed

COUNT = scale(5_000_000)
ROUNDS = 9
STATES = {
    "file": 'state {{\n  path = "state"\n}}\n',
    "postgres": 'state {{\n  backend = "postgres"\n  dsn = "{dsn}"\n  table = "{table}"\n}}\n',
}


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with postgres() as server:
        yield server


def project(directory: Path, state: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dstream.hcl").write_text(
        f"""{state}
task "bench" {{
  commit_interval = "1s"
  input {{
    provider_path = "{script("dstream-counter")}"
    config {{
      interval = 0
      max_count = {COUNT}
      checkpoint_every = 1000
    }}
  }}
  output {{ provider_path = "{script("dstream-null")}" }}
}}
"""
    )


def one_run(directory: Path) -> tuple[float, float]:
    """(streaming envelopes/s, whole-process envelopes/s)."""
    result = timed([script("dstream"), "run", "bench", "-q", "--json"], directory)
    task = json.loads(result["stdout"])["tasks"][0]
    assert task["counters"]["data_frames"] == COUNT, task
    assert task["last_checkpoint"] == {"seq": COUNT}, task  # stored through the fence
    return float(task["frames_per_second"]), COUNT / float(result["seconds"])


def test_throughput_with_leases_and_fencing(
    benchmark: Any, tmp_path: Path, pg: PostgresServer
) -> None:
    """Alternating rounds of both backends, so a load change on the machine hits both
    alike; each round's own ratio (postgres / file) is recorded beside the medians."""
    streaming: dict[str, list[float]] = {name: [] for name in STATES}
    whole: dict[str, list[float]] = {name: [] for name in STATES}

    def once() -> None:
        # Which backend goes first alternates too: a round's second run is not always
        # the same one's.
        order = list(STATES.items())
        for backend, state in order[:: -1 if len(streaming["file"]) % 2 else 1]:
            # a fresh state per round: the counter must not resume after a stored checkpoint
            directory = tmp_path / uuid.uuid4().hex[:8]
            table = "bench_" + uuid.uuid4().hex[:8]
            project(directory, state.format(dsn=pg.dsn, table=table))
            rate, overall = one_run(directory)
            streaming[backend].append(rate)
            whole[backend].append(overall)

    benchmark.pedantic(once, rounds=rounds(ROUNDS), iterations=1, warmup_rounds=warmups())
    group = "state backend, counter -> null, commit 1 s"
    for suffix, figures in ((", streaming", streaming), (", whole process", whole)):
        record(group + suffix, "baseline", stats(figures["file"], "env/s", label="file"))
        record(group + suffix, "postgres", stats(figures["postgres"], "env/s"))
        ratios = [100 * p / f for p, f in zip(figures["postgres"], figures["file"])]
        entry = stats(ratios, "%", fmt=".0f", compare=False)
        record(group + suffix, "postgres / file, same round", entry)
        benchmark.extra_info["ratio" + suffix] = entry
