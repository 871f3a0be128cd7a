"""`-f json` on a terminal (docker run -t, a pod with a tty): stderr is still all JSON
records, one a line. No live progress display is drawn among them (the progress lines
are records, as without a terminal), and the stop notice comes without the blank line
that a text notice starts with on a terminal (after the `^C` it echoed)."""

from __future__ import annotations

import signal

import pytest

from tests.services import wait_until
from tests.workspace import Workspace, log_records

# An input that writes one frame, then waits to be stopped.
QUIET_INPUT = """
read -r command
echo '{"status":"ready"}'
echo '{"data":1}'
exec sleep 300
"""


def stopped_on_a_terminal(ws: Workspace, *args: str) -> tuple[int, str]:
    """`dstream ARGS` with stderr (and stdin) on a pseudo-terminal, stopped by SIGTERM
    once its output wrote and it showed progress: its exit code and what the terminal
    showed, its line ends as written (the terminal's \\r\\n made \\n)."""
    with ws.live_on_a_terminal(*args) as (proc, screen):
        wait_until("the frame to reach the output", lambda: ws.read_text("out.jsonl") != "")
        # Progress shown, as a record or (what it must not be) a live display's table.
        wait_until("progress on the terminal", lambda: b"env" in screen and b"/s" in screen)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return proc.returncode, bytes(screen).decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.mark.timeout(120)
def test_json_logs_on_a_terminal_are_only_records(ws: Workspace) -> None:
    ws.script("input.sh", QUIET_INPUT)
    ws.shell_output_task("./input.sh", state=True)
    code, screen = stopped_on_a_terminal(ws, "run", "t", "-f", "json", "--progress-interval", "0.2")
    assert code == 143, screen
    found = log_records(screen)
    assert screen.endswith("\n"), screen
    (stop,) = [r for r in found if r.get("signal") == "SIGTERM"]
    assert stop["msg"].startswith("stopping: draining"), stop
    # The progress lines a terminal's live display stands for without JSON: records.
    progress = [r for r in found if "envelopes/s" in r["msg"]]
    assert progress and progress[0]["task"] == "t", screen
