"""A legacy input's first line is its first frame, held to the task's max_frame_size
like every other line (docs/protocol.md, section 3). It was read as a possible handshake
within 16 MiB whatever the task said: a 20 MB first frame failed a task allowing 64 MiB
("wrote a line longer than 16777216 bytes"), and a first line over a smaller limit cited
16 MiB, bypassing the task's invalid_frames policy."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

BIG = 20_000_000  # over the default 16 MiB


def _legacy_input(ws: Workspace, size: int, *, newline: bool = True) -> None:
    """An original input (no handshake): a first frame of about `size` bytes, then a
    small one (or, without `newline`, `{` and that many bytes of garbage, nothing else)."""
    if newline:
        body = (
            "read -r cmdline\n"
            'printf \'{"data":"\'\n'
            f"head -c {size} /dev/zero | tr '\\0' q\n"
            "printf '\"}\\n'\n"
            "printf '{\"data\":2}\\n'\n"
        )
    else:
        # A frame begun (`{`): a line that does not start with one is the input's log,
        # whatever its length (tests/legacy/test_long_log_line.py).
        body = f"read -r cmdline\nprintf '{{'\nhead -c {size} /dev/zero | tr '\\0' q\n"
    ws.script("in.sh", body)


def _into_file(ws: Workspace, max_frame_size: str, policy: str = "fail") -> None:
    """Task t: in.sh into an original output that keeps every line in out.jsonl."""
    ws.script("out.sh", "read -r cmdline\ncat > out.jsonl\n")
    ws.task(
        "./in.sh",
        "./out.sh",
        settings=f'max_frame_size = "{max_frame_size}"\ninvalid_frames = "{policy}"',
    )


@pytest.mark.timeout(120)
def test_a_first_frame_within_the_task_limit_is_delivered(ws: Workspace) -> None:
    _legacy_input(ws, BIG)
    _into_file(ws, "64MiB")
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    lines = (ws.root / "out.jsonl").read_bytes().splitlines()
    assert [len(line) > BIG for line in lines] == [True, False], [len(x) for x in lines]
    assert b'"data":2' in lines[1], lines[1]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("newline", [True, False])
def test_a_first_line_over_the_task_limit_is_an_oversized_frame_at_offset_0(
    ws: Workspace, newline: bool
) -> None:
    """Garbage without a newline included: the error cites the task's limit, not 16 MiB."""
    _legacy_input(ws, BIG, newline=newline)
    _into_file(ws, "1MiB")
    done = ws.run("run", "t")
    assert done.returncode == 1, done.stderr
    assert "from input './in.sh' at offset 0: frame of" in done.stderr, done.stderr
    assert "exceeds max_frame_size 1.0 MiB" in done.stderr, done.stderr
    assert "16777216" not in done.stderr, done.stderr


@pytest.mark.timeout(120)
def test_the_task_policy_decides_of_an_oversized_first_frame(ws: Workspace) -> None:
    """invalid_frames = "skip" skips it, as any other oversized frame, and the stream goes
    on with the next one."""
    _legacy_input(ws, BIG)
    _into_file(ws, "1MiB", policy="skip")
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    lines = (ws.root / "out.jsonl").read_bytes().splitlines()
    assert len(lines) == 1 and b'"data":2' in lines[0], lines
