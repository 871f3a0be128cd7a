"""Several processes writing one task's checkpoint at once, while another reads.

Without the file backend's lock (or the upsert's row lock) two writers would read the
same `sequence` and one increment would be lost; a reader racing a writer could see a
half-written record.
"""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dstream.config.model import StateSpec
from dstream.state import open_store
from tests.state.conftest import spec_dict


def write_many(spec: dict[str, Any], base_dir: str, task: str, writer: int, count: int) -> None:
    """Runs in a child process: its own store, `count` puts."""
    store = open_store(StateSpec(**spec), base_dir)
    try:
        for i in range(count):
            store.put(task, {"writer": writer, "i": i, "pad": "p" * 2048})
    finally:
        store.close()


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(writers=st.integers(2, 4), puts=st.integers(1, 25), data=st.data())
def test_concurrent_writers_lose_no_update_and_readers_never_see_a_torn_record(
    spec: StateSpec, tmp_path: Path, writers: int, puts: int, data: st.DataObject
) -> None:
    task = data.draw(st.sampled_from(["t", "shared task"]), label="task")
    reader_store = open_store(spec, str(tmp_path))
    reader_store.reset(task)  # hypothesis reuses the fixture's store between examples
    seen: list[int] = []
    problems: list[str] = []
    done = threading.Event()

    def read_while_writing() -> None:
        while not done.is_set():
            try:
                record = reader_store.get(task)
            except Exception as exc:  # a torn or unreadable record
                problems.append(repr(exc))
                return
            if record is not None:
                if set(record.checkpoint) != {"writer", "i", "pad"}:
                    problems.append(f"unexpected checkpoint {record.checkpoint!r}")
                seen.append(record.sequence)

    # fork: quick to start; the reader thread is started after, so no child inherits it
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=write_many, args=(spec_dict(spec), str(tmp_path), task, w, puts))
        for w in range(writers)
    ]
    for process in processes:
        process.start()
    reader = threading.Thread(target=read_while_writing)
    reader.start()
    for process in processes:
        process.join()
    done.set()
    reader.join()
    try:
        assert [p.exitcode for p in processes] == [0] * writers
        assert problems == []
        assert seen == sorted(seen), "a reader saw the sequence go backwards"
        final = reader_store.get(task)
        assert final is not None
        assert final.sequence == writers * puts, "an update was lost"
        # the globally last put is the last put of whichever writer finished last
        assert final.checkpoint["i"] == puts - 1
    finally:
        reader_store.close()
