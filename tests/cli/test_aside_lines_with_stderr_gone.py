"""With --json the console output's lines go to dstream's stderr (docs/cli.md): they are
the task's data, not log lines, so a stderr that cannot take them fails the task before
the checkpoint after them is stored, and the --json document on stdout says what
failed: writing them to dstream's stderr. It said "reading from output
'dstream-console' failed: [Errno 28] No space left on device", a provider's failure
and a read, where nothing had failed reading. A closed stderr (`2>&-`, /dev/null for
dstream) took them and the run exited 0, its lines lost."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import orjson
import pytest

from dstream.errors import aside_lines_lost
from tests.cli.test_closed_streams import closed, no_crash
from tests.cli.test_notes_with_stderr_gone import _stderr_gone
from tests.workspace import CliResult, Workspace

# What stderr failed with, by how it was lost.
FAILED = {
    "closed": BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE)),
    "full disk": OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    "reader left": BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE)),
}


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("how", sorted(FAILED))
def test_output_lines_stderr_cannot_take_fail_the_task_saying_so(
    ws: Workspace, tmp_path: Path, how: str, log_format: str
) -> None:
    ws.counter_task("t", "dstream-console", "", count=50, checkpoint_every=1)
    done = _gone(ws, how, "run", "t", "--json", "--log-format", log_format)
    no_crash(done, tmp_path)
    assert done.returncode == 1, done.stdout
    document = orjson.loads(done.stdout)
    assert (document["ok"], document["exit_code"], document["output_lines"]) == (False, 1, 0)
    error = document["tasks"][0]["error"]
    assert error["error"] == "StderrLost", error
    assert error["message"] == aside_lines_lost(FAILED[how]), error
    assert "stderr" in error["hint"], error
    assert ws.run("state", "show", "t").stdout == "", "a checkpoint after a lost line was stored"


def _gone(ws: Workspace, how: str, *args: str) -> CliResult:
    if how == "closed":
        return closed(ws, "2>&-", *args)
    return _stderr_gone(ws, how, *args)
