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
ROUNDS = 5
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


@pytest.mark.parametrize("backend", ["file", "postgres"])
def test_throughput_with_leases_and_fencing(
    benchmark: Any, tmp_path: Path, pg: PostgresServer, backend: str
) -> None:
    streaming: list[float] = []
    whole: list[float] = []

    def once() -> None:
        # a fresh state per round: the counter must not resume after a stored checkpoint
        directory = tmp_path / uuid.uuid4().hex[:8]
        table = "bench_" + uuid.uuid4().hex[:8]
        project(directory, STATES[backend].format(dsn=pg.dsn, table=table))
        rate, overall = one_run(directory)
        streaming.append(rate)
        whole.append(overall)

    benchmark.pedantic(once, rounds=rounds(ROUNDS), iterations=1, warmup_rounds=warmups())
    entry = stats(streaming, "env/s")
    benchmark.extra_info[backend] = entry
    record("state backend, counter -> null, commit 1 s, streaming", backend, entry)
    group = "state backend, counter -> null, commit 1 s"
    record(f"{group}, whole process", backend, stats(whole, "env/s"))
