"""A legacy input's stdout line that does not start with `{` is its log, whatever its
length (docs/protocol.md, "Legacy providers"): one longer than the task's
max_frame_size was an oversized invalid frame that failed the run ("invalid frame from
input './in.sh' at offset 0: frame of 3.0 KiB exceeds max_frame_size 1.0 KiB"). It is
logged, cut and marked so, and counted as a log line."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

LOG = "2026/12/07 11:00:00 INFO config loaded: " + "x" * 2960  # 3,000 characters


def _task(ws: Workspace, *, first: bool) -> None:
    """An original input writing the long log line (first, or between its envelopes),
    then envelopes, into an original output that keeps every line in out.jsonl."""
    envelope = """echo '{"data":{"id":%d},"metadata":{"TableName":"Persons"}}'"""
    lines = [envelope % 1, f"echo '{LOG}'", envelope % 2]
    if first:
        lines = [f"echo '{LOG}'", envelope % 1, envelope % 2]
    ws.script("in.sh", "read -r cmdline\n" + "\n".join(lines) + "\n")
    ws.script("out.sh", "read -r cmdline\ncat > out.jsonl\n")
    ws.task("./in.sh", "./out.sh", settings='max_frame_size = "1KiB"')


@pytest.mark.timeout(60)
@pytest.mark.parametrize("first", [True, False])
def test_a_log_line_over_max_frame_size_is_logged_cut(ws: Workspace, first: bool) -> None:
    _task(ws, first=first)
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    assert "config loaded: xxx" in done.stderr, done.stderr
    assert "(3,000 bytes, cut)" in done.stderr, done.stderr
    assert "x" * 2000 not in done.stderr, done.stderr  # its first max_frame_size bytes only
    assert len(ws.read_text("out.jsonl").splitlines()) == 2
    code, doc, _ = ws.run_json("run", "t")
    task = doc["tasks"][0]
    assert code == 0, task
    counters = task["counters"]
    assert counters["log_lines"] == 1, counters
    assert counters["invalid_frames"] == 0, counters
    assert counters["data_frames"] == 2, counters
