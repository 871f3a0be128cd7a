"""The built-in outputs as real processes: console formats, null, file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.sdk.conftest import DEADLINE, argv, command, frames, run, start
from tests.services import require_service

ENVELOPES = [
    {
        "data": {"value": 1},
        "metadata": {"seq": 1, "TableName": "orders", "OperationType": "Insert"},
    },
    {"data": {"value": 2}, "metadata": {"seq": 2}, "source": "legacy-extra-key"},
    {"checkpoint": {"seq": 2}},
    {"data": "three", "metadata": {}},
    {"checkpoint": {"seq": 3}},
]


def test_console_simple_lines_then_acks_in_order() -> None:
    result = run("console", command({"format": "simple"}, role="output") + frames(*ENVELOPES))
    assert result.returncode == 0, result.stderr
    assert result.handshake == {"status": "ready", "protocol": 1}
    assert result.lines[1:] == [
        b'[orders Insert seq 1] {"value":1}',
        b'[seq 2] {"value":2}',
        b'{"checkpoint":{"seq":2}}',
        b'"three"',
        b'{"checkpoint":{"seq":3}}',
    ]


def test_metadata_that_is_not_text_is_shown_as_json(tmp_path: Path) -> None:
    """A TableName or OperationType that is not a string reads as its JSON, in the
    console's lines and in the file output's file names (it was Python's repr)."""
    odd = {"data": 4, "metadata": {"TableName": {"a": 1}, "OperationType": True}}
    result = run("console", command({"format": "simple"}, role="output") + frames(odd))
    assert result.returncode == 0, result.stderr
    assert result.lines[1:] == [b'[{"a":1} true] 4']
    pattern = str(tmp_path / "{TableName}.jsonl")
    done = run("file", command({"path": pattern}, role="output") + frames(odd))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["%7B%22a%22%3A1%7D.jsonl"]


def test_console_json_keeps_each_envelope_as_it_came() -> None:
    result = run("console", command({"format": "json"}) + frames(*ENVELOPES))
    assert result.returncode == 0, result.stderr
    assert result.after_handshake == ENVELOPES


def test_console_structured_is_indented() -> None:
    result = run("console", command({"format": "structured"}) + frames(*ENVELOPES[:3]))
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert '{\n  "data": {\n    "value": 1\n  },' in text
    assert text.rstrip().endswith('{"checkpoint":{"seq":2}}')


def test_null_acks_checkpoints_in_order_and_nothing_else() -> None:
    stream = frames(
        {"data": 1, "metadata": {}},
        {"checkpoint": "a"},
        {"data": {"text": 'says "checkpoint" inside'}, "metadata": {}},
        {"checkpoint": "b", "data": "has data: so it is data"},
        {"data": 2, "metadata": {}},
        {"checkpoint": {"lsn": "0/16B3748"}},
    )
    stream += b"\r\n" + b'{"checkpoint":"c"}\r\n'  # CRLF and a blank line are tolerated
    result = run("null", command({}, role="output") + stream)
    assert result.returncode == 0, result.stderr
    assert result.lines[1:] == [
        b'{"checkpoint":"a"}',
        b'{"checkpoint":{"lsn":"0/16B3748"}}',
        b'{"checkpoint":"c"}',
    ]


def test_null_finds_checkpoints_across_large_chunks() -> None:
    """More than the host's 1 MiB read chunk, so checkpoint lines straddle chunk ends."""
    lines = []
    for n in range(1, 30001):
        lines.append({"data": {"pad": "x" * 60, "n": n}, "metadata": {"seq": n}})
        if n % 97 == 0:
            lines.append({"checkpoint": n})
    result = run("null", command({}) + frames(*lines))
    assert result.returncode == 0, result.stderr
    assert [o["checkpoint"] for o in result.after_handshake] == list(range(97, 30001, 97))


def test_file_appends_whole_envelopes(tmp_path: Path) -> None:
    result = run("file", command({"path": "out/all.jsonl"}) + frames(*ENVELOPES), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.after_handshake == [{"checkpoint": {"seq": 2}}, {"checkpoint": {"seq": 3}}]
    stored = (tmp_path / "out/all.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line) for line in stored] == [e for e in ENVELOPES if "data" in e]
    again = run("file", command({"path": "out/all.jsonl"}) + frames(ENVELOPES[0]), cwd=tmp_path)
    assert again.returncode == 0
    assert len((tmp_path / "out/all.jsonl").read_bytes().splitlines()) == 4  # appended


def test_file_per_table_pattern_and_data_format(tmp_path: Path) -> None:
    stream = frames(
        {"data": {"id": 1}, "metadata": {"TableName": "dbo.orders"}},
        {"data": {"id": 2}, "metadata": {"TableName": "items"}},
        {"data": {"id": 3}, "metadata": {"TableName": "dbo.orders"}},
        {"data": {"id": 4}, "metadata": {"TableName": "../escape"}},
        {"data": {"id": 5}, "metadata": {}},
        {"checkpoint": 1},
    )
    config = {"path": "tables/{TableName}.jsonl", "format": "data"}
    result = run("file", command(config) + stream, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.after_handshake == [{"checkpoint": 1}]
    files = {p.name: p.read_text().splitlines() for p in (tmp_path / "tables").iterdir()}
    assert files == {
        "dbo.orders.jsonl": ['{"id":1}', '{"id":3}'],
        "items.jsonl": ['{"id":2}'],
        "..%2Fescape.jsonl": ['{"id":4}'],
        "_unknown.jsonl": ['{"id":5}'],
    }


def test_file_table_names_that_are_not_strings_keep_their_own_files(tmp_path: Path) -> None:
    """1, 1.0 and true are equal as dict keys; their files must still differ. A name that
    is not a string is its JSON text (true, ["a"])."""
    names = [1, True, 1.0, "1", ["a"], "t", 1, True]
    stream = frames(*({"data": i, "metadata": {"TableName": n}} for i, n in enumerate(names)))
    config = {"path": "tables/{TableName}.jsonl", "format": "data"}
    result = run("file", command(config) + stream, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    files = {p.name: p.read_text().splitlines() for p in (tmp_path / "tables").iterdir()}
    assert files == {
        "1.jsonl": ["0", "3", "6"],
        "true.jsonl": ["1", "7"],
        "1.0.jsonl": ["2"],
        "%5B%22a%22%5D.jsonl": ["4"],
        "t.jsonl": ["5"],
    }


def test_file_gives_every_table_name_a_file_of_its_own(tmp_path: Path) -> None:
    """Names that differ only in characters a file name cannot hold as they are (a
    space, `/`, `%`, a name like `.` or the no-table file's) each keep their own file,
    and letters of any script are kept: one table's rows never land in another's file."""
    names = ["テーブル", "データ表", "a b", "a_b", "a/b", "a%2Fb", ".", "..", "_unknown", None]
    stream = frames(*({"data": i, "metadata": {"TableName": n}} for i, n in enumerate(names)))
    config = {"path": "tables/{TableName}/data.jsonl", "format": "data"}
    result = run("file", command(config) + stream, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    files = {p.parent.name: p.read_text().splitlines() for p in tmp_path.glob("tables/*/*")}
    assert files == {
        "テーブル": ["0"],
        "データ表": ["1"],
        "a%20b": ["2"],
        "a_b": ["3"],
        "a%2Fb": ["4"],
        "a%252Fb": ["5"],
        "%2E": ["6"],
        "%2E.": ["7"],
        "%5Funknown": ["8"],
        "_unknown": ["9"],
    }


@pytest.mark.parametrize("path", ["single.jsonl", "{TableName}.jsonl"])
def test_file_acks_only_what_is_already_in_the_file(
    tmp_path: Path, processes: list, path: str
) -> None:
    """Keep stdin open: when the acknowledgement arrives the provider is still running,
    so the envelopes before the checkpoint must be in the file by then."""
    proc = start("file", cwd=tmp_path)
    processes.append(proc)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command({"path": path}))
    proc.stdin.flush()
    assert orjson.loads(proc.stdout.readline())["status"] == "ready"
    for round_ in range(3):
        batch = [{"data": {"r": round_, "i": i}, "metadata": {"TableName": "t"}} for i in range(50)]
        proc.stdin.write(frames(*batch, {"checkpoint": round_}))
        proc.stdin.flush()
        assert orjson.loads(proc.stdout.readline()) == {"checkpoint": round_}
        target = tmp_path / path.replace("{TableName}", "t")
        stored = [orjson.loads(x) for x in target.read_bytes().splitlines()]
        assert len(stored) == 50 * (round_ + 1)
        assert stored[-1]["data"] == {"r": round_, "i": 49}
    proc.stdin.close()
    assert proc.wait(timeout=DEADLINE) == 0


@pytest.mark.parametrize("path", ["single.jsonl", "{TableName}.jsonl"])
def test_file_fsyncs_before_each_acknowledgement(tmp_path: Path, path: str) -> None:
    """strace shows the system calls in order: the data write, then fsync of that file,
    then the write of the acknowledgement to stdout."""
    if shutil.which("strace") is None:
        require_service("strace is not installed (apt-get install strace)")
    probe = subprocess.run(["strace", "-o", os.devnull, "true"], capture_output=True)
    if probe.returncode != 0:
        require_service(f"strace cannot trace here: {probe.stderr.decode().strip()}")
    trace = tmp_path / "trace.txt"
    stream = command({"path": path}) + frames(
        {"data": 1, "metadata": {"TableName": "t"}},
        {"checkpoint": 1},
        {"data": 2, "metadata": {"TableName": "t"}},
        {"checkpoint": 2},
    )
    done = subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=write,fsync,fdatasync",
            "-o",
            str(trace),
            *argv("file"),
        ],
        input=stream,
        capture_output=True,
        cwd=tmp_path,
        timeout=DEADLINE,
    )
    assert done.returncode == 0, done.stderr
    calls = [
        line.split(None, 1)[1]
        for line in trace.read_text().splitlines()
        if "fsync(" in line or '"{\\"data\\"' in line or '"{\\"checkpoint\\"' in line
    ]
    # Checkpoint n is acknowledged only once data n was written and then fsynced
    # (acks of one stdin chunk may share a write; directory fsyncs add more entries).
    written = synced = 0
    acked: list[str] = []
    for call in calls:
        if call.startswith(("fsync", "fdatasync")):
            synced = written
        elif "checkpoint" in call:
            for n in re.findall(r'checkpoint\\":(\d+)', call):
                assert int(n) <= synced, calls
                acked.append(n)
        else:
            written += 1
    assert (written, acked) == (2, ["1", "2"]), calls


def test_file_stops_at_an_invalid_frame_keeping_what_came_before(tmp_path: Path) -> None:
    head = command({"path": "{TableName}.jsonl"})
    stream = frames({"data": 1, "metadata": {"TableName": "t"}}, {"checkpoint": 1})
    stream += frames({"data": 2, "metadata": {"TableName": "t"}})
    bad_offset = len(head) + len(stream)
    stream += b'{"data": 3, oops\n' + frames({"checkpoint": 2})
    result = run("file", head + stream, cwd=tmp_path)
    assert result.returncode == 1
    assert result.after_handshake == [{"checkpoint": 1}]  # never past the bad frame
    assert (tmp_path / "t.jsonl").read_text().splitlines() == [
        '{"data":1,"metadata":{"TableName":"t"}}',
        '{"data":2,"metadata":{"TableName":"t"}}',
    ]
    errors = [r for r in result.logs if r["level"] == "error"]
    assert errors and f"offset {bad_offset}" in errors[0]["msg"]
    assert errors[0]["offset"] == bad_offset and errors[0]["excerpt"].startswith('{"data": 3')


@pytest.mark.parametrize("path", ["single.jsonl", "{TableName}.jsonl"])
def test_file_drops_a_torn_last_line_before_appending(tmp_path: Path, path: str) -> None:
    """A SIGKILL mid-write leaves a line without its newline; it was never acknowledged,
    so it is cut rather than fused with the next envelope."""
    target = tmp_path / path.replace("{TableName}", "t")
    target.write_bytes(b'{"data":1,"metadata":{}}\n{"data":2,"metadata":{}}\n{"data":3,"met')
    stream = command({"path": path}) + frames({"data": 3, "metadata": {"TableName": "t"}})
    result = run("file", stream, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [orjson.loads(x)["data"] for x in target.read_bytes().splitlines()] == [1, 2, 3]
    warning = next(r for r in result.logs if r["level"] == "warning")
    assert warning["bytes"] == len(b'{"data":3,"met')


def test_file_drops_a_file_that_is_one_torn_line(tmp_path: Path) -> None:
    (tmp_path / "out.jsonl").write_bytes(b'{"data":1,"meta')
    result = run("file", command({"path": "out.jsonl"}) + frames({"data": 1}), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.jsonl").read_bytes() == b'{"data":1}\n'
