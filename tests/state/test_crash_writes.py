"""SIGKILL a writer at random instants: the store always holds the previous or the new
checkpoint, whole and parseable, and never loses one whose put had returned.

SIGKILL stops the process, not the machine: this proves the write protocol (no torn
or half-renamed file, no lock left held), not that the fsyncs reach the platter.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dstream.config.model import StateSpec
from dstream.state import open_store
from tests.services import wait_until
from tests.state.conftest import spec_dict

WRITER = str(Path(__file__).with_name("writer.py"))
KILLED_MID_WRITE: list[bool] = []  # inspected by the test below: do kills land mid-put?
PAD = 256 * 1024  # big records make each put long enough for kills to land inside it
MORE_KILLS = 60  # the guard's own kills, when none above hit a write (0.8^60 ~ 1e-6)


def wait_for_orphaned_statements(spec: StateSpec) -> None:
    """A statement the killed writer had sent still runs (and commits) on the server
    after the client died; wait for the dead writer's session to end so the checks
    below see its final effect."""
    import psycopg

    assert spec.dsn
    with psycopg.connect(spec.dsn, autocommit=True) as conn:
        # Bounded: a session another test left open would otherwise hang the suite here.
        wait_until(
            "the killed writer's database session to end",
            lambda: (
                conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                ).fetchone()
                == (0,)
            ),
            timeout=30,
            tick=0.01,
        )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delay=st.floats(min_value=0.0, max_value=0.05), wait_for_first=st.booleans())
def test_sigkill_mid_put_leaves_the_old_or_the_new_record(
    spec: StateSpec, tmp_path: Path, delay: float, wait_for_first: bool
) -> None:
    kill_and_check(spec, tmp_path, delay, wait_for_first)


def kill_and_check(spec: StateSpec, tmp_path: Path, delay: float, wait_for_first: bool) -> None:
    """Start a writer, SIGKILL it `delay` seconds later (after its first put returned,
    with `wait_for_first`), then check what the store holds."""
    task = "crash-" + uuid.uuid4().hex[:8]
    writer = subprocess.Popen(
        [sys.executable, WRITER, orjson.dumps(spec_dict(spec)).decode(), task, str(PAD)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert writer.stdout is not None
    if wait_for_first:  # else the kill may land before or inside the very first put
        assert writer.stdout.readline().strip() == b"1", (
            writer.stderr.read() if writer.stderr else ""
        )
    time.sleep(delay)  # where the kill lands, not an assertion
    writer.send_signal(signal.SIGKILL)
    rest, err = writer.communicate()
    assert writer.returncode == -signal.SIGKILL, err.decode()
    lines = rest.split()
    confirmed = int(lines[-1]) if lines else (1 if wait_for_first else 0)

    if spec.backend == "file":
        torn = list(Path(spec.path or "").glob(f".{task}.json.tmp"))
        KILLED_MID_WRITE.append(bool(torn))
    if spec.backend == "postgres":
        wait_for_orphaned_statements(spec)
    store = open_store(spec, str(tmp_path))
    try:
        record = store.get(task)  # raises if the file were torn
        if confirmed == 0 and record is None:
            return
        assert record is not None, "a put that returned was lost"
        # the confirmed value, or the one whose put completed but was not yet printed
        assert record.checkpoint["i"] in (confirmed, confirmed + 1)
        assert record.checkpoint["pad"] == "x" * PAD
        assert record.sequence == record.checkpoint["i"]
        store.put(task, {"i": 0})  # the dead writer's lock and temporary file are no obstacle
        after = store.get(task)
        assert after is not None and after.sequence == record.sequence + 1
    finally:
        store.close()
    if spec.backend == "file":
        state_dir = Path(spec.path or "")
        leftovers = [n for n in os.listdir(state_dir) if n.endswith(".tmp") and task in n]
        assert leftovers == [], "the next put reuses and renames the dead writer's temp file"


def test_some_kills_landed_inside_a_put(tmp_path: Path) -> None:
    """Guards the test above against only ever killing between puts, where it would
    prove nothing. A temporary file left behind means the kill hit a write in flight.
    Runs after it (file order); alone (another pytest-xdist worker) it has nothing to
    inspect, and its own kills below decide.

    Hypothesis favours the ends of the delay range, and a kill right after a put's line
    lands before the next write: on a fast machine its 25 kills could all miss (about
    1 kill in 5 hits a write when the delay is uniform). Then more kills at uniform
    delays, each checked like the ones above, until one lands inside a write."""
    spec = StateSpec(backend="file", path=str(tmp_path / "state"))
    rng = random.Random(0)  # seeded: the delays are the same in every run
    for _ in range(MORE_KILLS):
        if any(KILLED_MID_WRITE):
            break
        kill_and_check(spec, tmp_path, rng.uniform(0.0, 0.05), True)
    assert any(KILLED_MID_WRITE), f"no kill out of {len(KILLED_MID_WRITE)} hit a write"
