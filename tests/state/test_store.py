"""The StateStore contract, for every backend."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dstream.config.model import Location, StateSpec
from dstream.errors import ConfigError, DstreamError
from dstream.state import StateStore, open_store

# Any JSON value; floats are finite (JSON has no NaN/inf) and keys are strings.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def same_json(a: Any, b: Any) -> bool:
    """Equality that also holds for -0.0 vs 0.0 after a trip through PostgreSQL."""
    if isinstance(a, float) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-15, abs_tol=0.0) or a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def test_missing_task_has_no_record(store: StateStore) -> None:
    assert store.get("never-written") is None
    assert store.tasks() == []
    assert store.reset("never-written") is False


def test_put_then_get_returns_the_newest_with_growing_sequence(store: StateStore) -> None:
    store.put("orders", {"seq": 1})
    first = store.get("orders")
    store.put("orders", {"seq": 2})
    second = store.get("orders")
    assert first is not None and second is not None
    assert (first.task, first.checkpoint, first.sequence) == ("orders", {"seq": 1}, 1)
    assert (second.checkpoint, second.sequence) == ({"seq": 2}, 2)
    assert second.updated_at >= first.updated_at > 0


def test_tasks_are_independent_and_listed_sorted(store: StateStore) -> None:
    store.put("b", 2)
    store.put("a", "one")
    store.put("b", 3)
    listed = [(r.task, r.checkpoint, r.sequence) for r in store.tasks()]
    assert listed == [("a", "one", 1), ("b", 3, 2)]


def test_reset_forgets_one_task_only(store: StateStore) -> None:
    store.put("a", 1)
    store.put("b", 2)
    assert store.reset("a") is True
    assert store.get("a") is None
    record = store.get("b")
    assert record is not None and record.checkpoint == 2
    assert store.reset("a") is False


def test_null_is_refused_as_a_checkpoint_and_nothing_changes(store: StateStore) -> None:
    """No store holds a null checkpoint (an input reads one as none: a fresh start), and a
    reader refuses one another program wrote (tests/state/test_cli.py)."""
    store.put("t", {"seq": 1})
    with pytest.raises(DstreamError, match="is null, which dstream never stores"):
        store.put("t", None)
    record = store.get("t")
    assert record is not None and record.checkpoint == {"seq": 1} and record.sequence == 1
    store.put("t", [None])  # a null inside a checkpoint is a value like any other
    assert store.get("t").checkpoint == [None]  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["with space", "../escape", ".hidden", "ünïcode/slash", "%41"])
def test_any_task_name_round_trips(store: StateStore, name: str) -> None:
    store.put(name, name)
    store.put("A", "other")  # "%41" must not collide with "A"
    record = store.get(name)
    assert record is not None and record.task == name and record.checkpoint == name
    assert sorted(r.task for r in store.tasks()) == sorted({name, "A"})


def test_a_value_that_is_not_json_is_refused_and_nothing_changes(store: StateStore) -> None:
    store.put("t", {"seq": 1})
    with pytest.raises(DstreamError, match="not a JSON value"):
        store.put("t", {"seq": object()})
    record = store.get("t")
    assert record is not None and record.checkpoint == {"seq": 1} and record.sequence == 1


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=json_values.filter(lambda value: value is not None))  # null: refused, above
def test_every_json_value_round_trips(store: StateStore, value: Any) -> None:
    store.put("t", value)
    record = store.get("t")
    assert record is not None and same_json(value, record.checkpoint)


def test_file_backend_default_directory_follows_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    store = open_store(StateSpec(), str(tmp_path / "project"))
    store.put("t", 1)
    (found,) = (tmp_path / "xdg" / "dstream").glob("project-*/t.json")
    assert found.is_file()


def test_file_backend_keeps_using_an_existing_directory_beside_the_configuration(
    tmp_path: Path,
) -> None:
    (tmp_path / ".dstream" / "state").mkdir(parents=True)
    open_store(StateSpec(), str(tmp_path)).put("t", 1)
    assert (tmp_path / ".dstream" / "state" / "t.json").is_file()


def test_file_backend_relative_path_is_relative_to_the_configuration(tmp_path: Path) -> None:
    open_store(StateSpec(path="var/ckpt"), str(tmp_path)).put("t", 1)
    assert (tmp_path / "var" / "ckpt" / "t.json").is_file()


def test_unknown_backend_names_the_location_and_the_choices(tmp_path: Path) -> None:
    spec = StateSpec(backend="redis", location=Location("dstream.hcl", 3, 13))
    with pytest.raises(ConfigError) as caught:
        open_store(spec, str(tmp_path))
    assert "dstream.hcl:3:13" in str(caught.value)
    assert caught.value.hint and "file" in caught.value.hint and "postgres" in caught.value.hint


def test_postgres_backend_without_dsn_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="dsn"):
        open_store(StateSpec(backend="postgres"), str(tmp_path))


@pytest.mark.parametrize(
    "raw",
    [
        b"18446744073709551617",
        b"0.1000000000000000000000000001",
        b"1e400",
        b"5000.0",
        b'{"b":1,"a":[1.0, -0, "\\u00e9\\n"]}',
    ],
)
def test_a_checkpoints_exact_bytes_round_trip(store: StateStore, raw: bytes) -> None:
    """A checkpoint is opaque: what a run stores (the value's bytes from the frame) comes
    back byte for byte, never through a JSON layer's numbers."""
    store.put("t", raw)
    record = store.get("t")
    assert record is not None and record.raw == raw
    assert [r.raw for r in store.tasks()] == [raw]


def test_bytes_that_are_not_one_json_value_are_refused(store: StateStore) -> None:
    for bad in (b"", b"1 2", b"{", b'{"a":1}}'):
        with pytest.raises(DstreamError, match="not a JSON value"):
            store.put("t", bad)
    assert store.get("t") is None
