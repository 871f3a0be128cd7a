"""What is particular to the file backend: its files, and damage done from outside."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from dstream.errors import DstreamError
from dstream.state.file import FileStore, file_stem


def test_the_record_is_a_readable_json_file(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path))
    store.put("orders", {"lsn": "0/16B3748"})
    doc = orjson.loads((tmp_path / "orders.json").read_bytes())
    assert doc["task"] == "orders" and doc["checkpoint"] == {"lsn": "0/16B3748"}
    assert doc["sequence"] == 1 and doc["format"] == 1


def test_put_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path))
    for i in range(3):
        store.put("t", i)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".t.lock", "t.json"]


def test_a_temporary_file_left_by_a_killed_writer_is_overwritten(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path))
    store.put("t", "old")
    (tmp_path / ".t.json.tmp").write_bytes(b'{"task": "t", "checkp')  # a write cut short
    record = store.get("t")
    assert record is not None and record.checkpoint == "old"
    store.put("t", "new")
    assert not (tmp_path / ".t.json.tmp").exists()
    record = store.get("t")
    assert record is not None and record.checkpoint == "new" and record.sequence == 2


def test_a_damaged_file_is_reported_with_its_path_and_a_way_out(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path))
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(DstreamError) as caught:
        store.get("t")
    assert str(tmp_path / "t.json") in str(caught.value)
    assert caught.value.hint and "dstream state reset" in caught.value.hint


def test_a_file_from_a_newer_dstream_is_refused(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path))
    store.put("t", 1)
    path = tmp_path / "t.json"
    doc = orjson.loads(path.read_bytes())
    path.write_bytes(orjson.dumps({**doc, "format": 99}))
    with pytest.raises(DstreamError, match="format 99"):
        store.get("t")


def test_an_unwritable_directory_is_reported_with_a_hint(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    store = FileStore(str(blocker / "state"))
    with pytest.raises(DstreamError) as caught:
        store.put("t", 1)
    assert "state" in str(caught.value) and caught.value.hint


def test_file_names_are_distinct_and_stay_inside_the_directory() -> None:
    names = ["a", "A", "%41", "a b", "../a", ".a", "a.", "é", "a/b", "a%2Fb"]
    stems = [file_stem(name) for name in names]
    assert len(set(stems)) == len(names)
    assert all("/" not in stem and not stem.startswith(".") for stem in stems)


def test_a_state_file_of_an_earlier_version_still_loads(tmp_path: Path) -> None:
    """Earlier versions wrote the checkpoint re-encoded and indented; it loads, and
    is handed back on one line with the same value."""
    (tmp_path / "t.json").write_text(
        '{\n  "format": 1,\n  "task": "t",\n  "sequence": 3,\n  "updated_at": 1700000000.5,\n'
        '  "checkpoint": {\n    "lsn": "0/16B3748",\n    "tables": [\n      "a b"\n    ]\n  }\n}\n'
    )
    record = FileStore(str(tmp_path)).get("t")
    assert record is not None and record.sequence == 3 and record.updated_at == 1700000000.5
    assert record.raw == b'{"lsn":"0/16B3748","tables":["a b"]}'
