"""Whether a task stopped before it streamed resumes is what the record its attempt
read at its start says (with what it stored since): the stop asks the store nothing
more. It read the task's record a second time (runner._judge_resume), for an answer
the attempt already held, and after a forced stop it did not judge at all (resumable,
with nothing stored). Stopped in its restart backoff or while its input started, also
by a forced stop, the task resumes iff a checkpoint is stored, and its record is read
once."""

from __future__ import annotations

import signal
from functools import partial
from typing import TYPE_CHECKING, Callable

import pytest

from dstream.config.loader import load_project
from dstream.runtime.monitor import Monitor
from dstream.runtime.runner import run_tasks
from dstream.state.file import FileStore
from tests.providers import SHELL_OUTPUT
from tests.runtime.in_process import NotingStore, noting_store, signal_when
from tests.workspace import Workspace

__all__ = ["noting_store"]  # the fixture, used by name

# An input that fails before its handshake: the task waits out its restart backoff.
FAILING_INPUT = "import sys; sys.exit(3)\n"

# An input that never answers its handshake: the task is stopped while it starts. It
# says it started (the file `started`), so the stop comes while it waits for it.
SILENT_INPUT = """
import time
open("started", "w").close()
time.sleep(300)
"""

# The same, but it ignores SIGTERM, saying it was asked to stop (the file `stopping`):
# the stop waits for it until a second signal forces it.
STUBBORN_INPUT = """
import signal, time
signal.signal(signal.SIGTERM, lambda *_: open("stopping", "w").close())
open("started", "w").close()
while True:
    time.sleep(1)
"""

if TYPE_CHECKING:
    Step = tuple[str, Callable[[Workspace, Monitor], bool]]


def _in_backoff(ws: Workspace, monitor: Monitor) -> bool:
    return monitor.tasks["t"].state == "restarting"


def _starting(ws: Workspace, monitor: Monitor) -> bool:
    return (ws.root / "started").exists()


def _stopping(ws: Workspace, monitor: Monitor) -> bool:
    return (ws.root / "stopping").exists()


# How the task is stopped: its input, and when each SIGINT is sent.
STOPS: dict[str, tuple[str, list[Step]]] = {
    "in its restart backoff": (FAILING_INPUT, [("the backoff", _in_backoff)]),
    "while its input starts": (SILENT_INPUT, [("the input", _starting)]),
    "forced while its input starts": (
        STUBBORN_INPUT,
        [("the input", _starting), ("the input to be asked to stop", _stopping)],
    ),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stored", [False, True], ids=["nothing stored", "a checkpoint stored"])
@pytest.mark.parametrize("when", list(STOPS))
def test_a_task_stopped_before_it_streamed_reads_its_record_once(
    ws: Workspace, noting_store: NotingStore, when: str, stored: bool
) -> None:
    input_script, steps = STOPS[when]
    ws.python_script("input.py", input_script)
    ws.script("output.sh", SHELL_OUTPUT)
    # (a long stop_grace: only a second signal ends the stubborn input's stop)
    config = ws.task(
        "./input.py", "./output.sh", state=True, restart=(2, "60s"), settings='stop_grace = "5m"'
    )
    if stored:  # by another store: not a read of the run's
        FileStore(str(ws.root / "state")).put("t", {"offset": 7})
    project = load_project(str(config))
    monitor = Monitor(["t"])
    signal_when(signal.SIGINT, *[(what, partial(ready, ws, monitor)) for what, ready in steps])
    [summary] = run_tasks(project, ["t"], monitor=monitor, history=False)
    assert summary.stopped_by == signal.SIGINT, summary
    assert summary.resumable is stored, summary
    # What it says of the next run is true with nothing stored too.
    hint = summary.error.hint if summary.error is not None else ""
    assert stored or "last stored checkpoint" not in (hint or ""), hint
    assert noting_store.reads.count("t") == 1, noting_store.reads
