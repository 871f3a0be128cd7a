"""What a run that ends before its input's EOF says was never read of the input: the
bytes it wrote after the last one dstream dealt with (delivered, skipped, or reported as
the invalid frame that ended the run), whether the pump forwards frames with
tee(2)/splice(2) or reads and writes them. Before, the invalid frame was counted as never
read too (zero-copy: it and what followed stayed in the pipe, peeked but not consumed),
or nothing was (copying: what followed it was in the pump's buffer, not the pipe). Real
`dstream run` processes with an input in sh."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import orjson
import pytest

from tests.providers import ACK_OUTPUT
from tests.services import require_service
from tests.workspace import Workspace

# 11 + 17 bytes delivered, an invalid frame of 11 bytes (fails the run: the default
# invalid_frames = "fail"), then 11 + 17 bytes nobody deals with: 28 never read.
INPUT = r"""
read -r cmd
echo '{"status":"ready","protocol":1,"features":["checkpoints"]}'
sleep 0.5  # the frames come after the handshake was read: the pump reads them
printf '{"data":1}\n{"checkpoint":1}\n{"data":1,\n{"data":2}\n{"checkpoint":2}\n'
"""


def _copying() -> list[str]:
    """The command that runs dstream with tee(2) refused (strace's fault injection): the
    pump gives zero-copy up at its first peek and reads and writes instead."""
    if shutil.which("strace") is None:
        require_service("strace is not installed (apt-get install strace)")
    probe = subprocess.run(["strace", "-o", os.devnull, "true"], capture_output=True)
    if probe.returncode != 0:
        require_service(f"strace cannot trace here: {probe.stderr.decode().strip()}")
    # strace injects faults only into the system calls it traces
    return [
        "strace",
        "-f",
        "-qq",
        "-o",
        os.devnull,
        "-e",
        "trace=tee",
        "-e",
        "inject=tee:error=EINVAL",
    ]


@pytest.mark.parametrize("copying", [False, True], ids=["zero-copy", "copying"])
def test_an_invalid_frame_is_not_counted_as_never_read(ws: Workspace, copying: bool) -> None:
    ws.script("in.sh", INPUT)
    ws.python_script("out.py", ACK_OUTPUT)
    ws.task("./in.sh", "./out.py", state=True)
    done = ws.run("run", "t", "--json", timeout=60, prefix=_copying() if copying else ())
    assert done.returncode == 1, done.stderr
    task: dict[str, Any] = orjson.loads(done.stdout)["tasks"][0]
    assert task["counters"]["invalid_frames"] == 1, task
    assert task["counters"]["data_frames"] == 1, task
    unread = [note for note in task["notes"] if "not delivered" in note]
    assert unread == [
        "input './in.sh': its last 28 bytes were not delivered (written after the last "
        "one dstream dealt with, they were in its stdout pipe or dstream's buffer when "
        "the stream ended)"
    ], task
