"""An output that says ready and never reads its stdin again, behind an input that
writes everything and exits: the run's lines say what happened, and only that. Before,
the pump (waiting on the output) left the input's last lines in its pipe and dstream
said an orphan held that pipe open, that the input "did not stop" after a stop and what
it wrote "is delivered", that the killed output "reads its stdin again", and nothing of
the lines the input wrote and nobody read."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from dstream.runtime.monitor import OUTPUT_STALL
from tests.conftest import NO_COLOR
from tests.services import wait_until
from tests.workspace import Run, Workspace

# An input of the original shape: its command line, ready, 2000 envelopes (once the
# output made its pipe small), exit 0.
WRITING_INPUT = r"""
import json, sys, time
sys.stdin.readline()
print('{"status":"ready"}', flush=True)
time.sleep(2)  # the output makes its pipe small meanwhile
for i in range(1, 2001):
    print(json.dumps({"source": "", "type": "", "data": {"value": i, "pad": "x" * 100}}))
sys.stdout.flush()
"""

# The same input, deaf to SIGTERM and writing on until it is killed.
DEAF_INPUT = WRITING_INPUT.replace(
    "import json, sys, time",
    "import json, signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)",
).replace("range(1, 2001)", "iter(int, 1)")

# Its command line, ready, then it never reads its stdin again; its stdin pipe made as
# small as Linux allows (dstream grows it to 1 MiB), so the stall comes at once.
NOREAD_OUTPUT = r"""
import fcntl, sys, time
sys.stdin.readline()
print('{"status":"ready"}', flush=True)
time.sleep(0.5)  # the pump, started now, grows the pipe first
fcntl.fcntl(0, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
time.sleep(100000)
"""

INPUT, OUTPUT = "input './in.py'", "output './noread.py'"
STALLED = f"{OUTPUT} has read nothing of its stdin for "


def _stalled_run(root: Path, *flags: str, source: str = WRITING_INPUT) -> tuple[int, str, str]:
    """The run, stopped by SIGTERM once the stall was warned about: (exit, stdout,
    stderr). stop_grace is short: the input has exited long before the warning."""
    ws = Workspace(root, env=NO_COLOR)
    ws.python_script("in.py", source)
    ws.python_script("noread.py", NOREAD_OUTPUT)
    ws.task("./in.py", "./noread.py", settings='stop_grace = "2s"')
    run = Run(ws, "run", "t", *flags)
    try:
        wait_until("the stall's warning", lambda: run.says(STALLED), timeout=OUTPUT_STALL + 60)
        run.signal(signal.SIGTERM)
        code = run.wait()
    finally:
        run.kill()
    return code, ws.read_text("stdout"), run.stderr()


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, str]:
    return _stalled_run(tmp_path_factory.mktemp("text"))


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    code, out, err = _stalled_run(tmp_path_factory.mktemp("json"), "--json")
    return code, json.loads(out), err


@pytest.mark.timeout(180)
def test_no_orphan_is_claimed_while_the_pump_waits_on_the_output(
    text_run: tuple[int, str, str],
) -> None:
    code, _, err = text_run
    assert code == 143, err
    assert "still holds its stdout open" not in err, err


@pytest.mark.timeout(180)
def test_an_input_that_exited_is_not_said_to_be_cut(text_run: tuple[int, str, str]) -> None:
    _, _, err = text_run
    assert "did not stop within half of stop_grace" not in err, err
    assert "what it wrote is delivered" not in err, err


@pytest.mark.timeout(180)
def test_an_input_cut_before_a_stalled_output_is_not_said_delivered(tmp_path: Path) -> None:
    code, _, err = _stalled_run(tmp_path, source=DEAF_INPUT)
    assert code == 143, err
    assert f"{INPUT} did not stop within half of stop_grace (1 s): killing it" in err, err
    assert "what it wrote is delivered" not in err, err
    assert f"what it wrote reaches {OUTPUT} only if it reads again" in err, err


@pytest.mark.timeout(180)
def test_a_killed_output_is_not_said_to_read_again(text_run: tuple[int, str, str]) -> None:
    _, _, err = text_run
    assert "reads its stdin again" not in err, err


@pytest.mark.timeout(180)
def test_the_summary_says_what_the_input_wrote_and_nobody_read(
    text_run: tuple[int, str, str], json_run: tuple[int, dict[str, Any], str]
) -> None:
    _, _, err = text_run
    said = f"{INPUT}: its last "
    assert said in err and "bytes were not delivered (written after" in err, err
    code, document, err = json_run
    assert code == 143, err
    notes = [note for task in document["tasks"] for note in task["notes"]]
    assert any(said in note and "bytes were not delivered" in note for note in notes), document
