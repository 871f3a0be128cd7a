"""Run history (`dstream runs`) and the input configuration a checkpoint came from
(`run` refusing a changed input), for every backend: the postgres one keeps them in
tables beside its state table, the input's digest written under the task's lease when a
run holds it (the history is an append, not fenced)."""

from __future__ import annotations

import orjson
import psycopg
import pytest

from dstream import logs
from dstream.config.model import StateSpec
from dstream.errors import LockLost
from dstream.state import StateStore, open_store
from dstream.state.base import RUN_HISTORY
from tests.cli import scenarios
from tests.workspace import Workspace


def _run(n: int) -> dict[str, object]:
    return {"started_at": 1000.0 + n, "ended_at": 1001.5 + n, "envelopes": n,
            "result": "completed", "exit_code": 0}  # fmt: skip


def test_a_task_without_runs_has_an_empty_history(store: StateStore) -> None:
    assert store.runs("t") == []
    assert store.input_hash("t") is None


def test_runs_come_back_oldest_first_per_task(store: StateStore) -> None:
    store.add_run("t", _run(1))
    store.add_run("other", _run(7))
    store.add_run("t", {**_run(2), "result": "failed", "exit_code": 1})
    assert store.runs("t") == [_run(1), {**_run(2), "result": "failed", "exit_code": 1}]
    assert store.runs("other") == [_run(7)]


def test_the_history_keeps_the_last_run_history_runs(store: StateStore) -> None:
    for n in range(RUN_HISTORY + 3):
        store.add_run("t", _run(n))
    kept = store.runs("t")
    assert len(kept) == RUN_HISTORY
    assert [r["envelopes"] for r in kept] == list(range(3, RUN_HISTORY + 3))


def test_the_history_is_shared_by_two_stores_on_one_state(spec: StateSpec, tmp_path: str) -> None:
    with open_store(spec, str(tmp_path)) as first, open_store(spec, str(tmp_path)) as second:
        first.add_run("t", _run(1))
        assert second.runs("t") == [_run(1)]


def test_the_input_hash_is_kept_per_task_and_replaced(store: StateStore) -> None:
    store.set_input_hash("t", "blake2b:aa")
    store.set_input_hash("u", "blake2b:bb")
    store.set_input_hash("t", "blake2b:cc")
    assert (store.input_hash("t"), store.input_hash("u")) == ("blake2b:cc", "blake2b:bb")


def test_a_run_that_lost_its_lease_records_no_input_hash(pg_spec: StateSpec) -> None:
    """The digest is fenced like the checkpoint: once another holder took the task over,
    this store's lease epoch is stale and the digest it writes does not land. Its run's
    history does: an append of a finished run, which touches no checkpoint."""
    with open_store(pg_spec, ".") as store, store.hold_run("t"):
        store.set_input_hash("t", "blake2b:mine")
        assert pg_spec.dsn
        with psycopg.connect(pg_spec.dsn, autocommit=True) as conn:  # a takeover
            conn.execute(f"UPDATE {pg_spec.table}_lease SET epoch = epoch + 1")
        with pytest.raises(LockLost):
            store.set_input_hash("t", "blake2b:stale")
        store.add_run("t", _run(1))
    with open_store(pg_spec, ".") as other:
        assert other.input_hash("t") == "blake2b:mine"
        assert other.runs("t") == [_run(1)]


def test_postgres_history_tables_are_plain_sql(pg_spec: StateSpec) -> None:
    with open_store(pg_spec, ".") as store:
        store.add_run("t", _run(4))
        store.set_input_hash("t", "blake2b:dd")
    assert pg_spec.dsn
    with psycopg.connect(pg_spec.dsn) as conn:
        runs = conn.execute(f"SELECT task, run->>'envelopes' FROM {pg_spec.table}_runs").fetchall()
        hashes = conn.execute(f"SELECT task, input_hash FROM {pg_spec.table}_input").fetchall()
    assert runs == [("t", "4")] and hashes == [("t", "blake2b:dd")]


NOT_A_TIME = "is not a time (seconds since 1970, before the year 10000)"
# Hand-edited history entries no reader can show: (JSON text, why), as the warning says.
BAD_RUNS = [
    ('{"result": 5}', "it has no started_at"),
    ('{"started_at": "x", "ended_at": 2}', f"its started_at {NOT_A_TIME}"),
    ('{"started_at": 1e400, "ended_at": 2}', f"its started_at {NOT_A_TIME}"),
    ('{"started_at": 1, "ended_at": -1e300}', f"its ended_at {NOT_A_TIME}"),
    (
        '{"started_at": 1, "ended_at": 2, "envelopes": "many"}',
        "its envelopes is not a whole number",
    ),
    ('{"started_at": 1, "ended_at": 2, "task": "other"}', "it is a run of task 'other'"),
    ("[1, 2]", "it is not a JSON object"),
    ("null", "it is not a JSON object"),
    ("[" * 3000 + "]" * 3000, "it is not JSON dstream can read: the JSON is nested too deep"),
]


def _append_runs(spec: StateSpec, store: StateStore, task: str, texts: list[str]) -> list[str]:
    """Write `texts` into the task's history behind the store's back; where each is, as
    a warning names it."""
    if spec.backend == "file":
        from dstream.state.file import file_stem

        assert spec.path
        path = f"{spec.path}/.{file_stem(task)}.runs.jsonl"
        with open(path, "a") as handle:
            handle.write("".join(text + "\n" for text in texts))
        with open(path) as handle:
            first = len(handle.readlines()) - len(texts) + 1
        return [f"{path}:{first + n}" for n in range(len(texts))]
    assert spec.dsn
    with psycopg.connect(spec.dsn, autocommit=True) as conn:
        ids = [
            conn.execute(
                f"INSERT INTO {spec.table}_runs (task, run) VALUES (%s, %s::json) RETURNING id",
                (task, text),
            ).fetchone()[0]  # type: ignore[index]
            for text in texts
        ]
    return [f"table {spec.table}_runs, id {i}" for i in ids]


def test_entries_no_reader_can_show_are_skipped_with_a_warning(
    spec: StateSpec,
    store: StateStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not a KeyError, TypeError or OverflowError from `dstream runs` (exit 70): the
    good entries come back, each bad one is named (file and line, or table and id)."""
    # The warnings as said, not as the process's redactor masks them (other tests in this
    # process may have made it remember any word).
    monkeypatch.setattr(logs.log, "format", lambda record: f"[{record.level}] {record.text}")
    store.add_run("t", _run(1))
    places = _append_runs(spec, store, "t", [text for text, _ in BAD_RUNS])
    store.add_run("u", _run(9))
    capsys.readouterr()
    assert store.runs("t") == [_run(1)]
    warnings = capsys.readouterr().err.splitlines()
    assert warnings == [
        f"[warning] run history {place}: {why}: skipped"
        for place, (_, why) in zip(places, BAD_RUNS)
    ]
    assert store.runs("u") == [_run(9)]  # another task's history is not touched
    store.add_run("t", _run(2))  # keeps them for the user to see and fix, not dropped
    capsys.readouterr()
    assert store.runs("t") == [_run(1), _run(2)]
    assert len(capsys.readouterr().err.splitlines()) == len(BAD_RUNS)
    if spec.backend == "file":  # a truncated line (a hand edit cut short) too
        _append_runs(spec, store, "u", ['{"started_at": 1'])
        capsys.readouterr()
        assert store.runs("u") == [_run(9)]
        assert "it is not JSON" in capsys.readouterr().err


def test_runs_shows_the_good_entries_of_a_hand_edited_history(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    assert ws.run("run", "t").returncode == 0
    history = ws.root / "state" / ".t.runs.jsonl"
    with history.open("a") as handle:
        handle.write('{"result": 5}\n{"started_at": 1e400, "ended_at": 1}\n')
    for args in (["runs"], ["runs", "--json"]):
        done = ws.run(*args)
        assert done.returncode == 0, done.stderr
        assert f"run history {history}:2: it has no started_at: skipped" in done.stderr
        assert f"run history {history}:3: its started_at {NOT_A_TIME}: skipped" in done.stderr
    runs = orjson.loads(ws.run("runs", "--json").stdout_bytes)["runs"]
    assert [(r["task"], r["result"]) for r in runs] == [("t", "completed")]
