"""The line a first stop signal prints says how to force the stop by the signal that
came: "press Ctrl-C again" for SIGINT, "send SIGTERM again" for SIGTERM (it said
Ctrl-C to a run a service manager had sent SIGTERM)."""

from __future__ import annotations

import signal

import pytest

from tests.providers import SHELL_OUTPUT
from tests.services import wait_until
from tests.workspace import Workspace

# An input that writes one frame, then waits to be stopped.
QUIET_INPUT = """
read -r command
echo '{"status":"ready"}'
echo '{"data":1}'
exec sleep 300
"""


@pytest.mark.parametrize(
    "sig, again, not_said",
    [
        (signal.SIGINT, "press Ctrl-C again to force", "SIGTERM"),
        (signal.SIGTERM, "send SIGTERM again to force", "Ctrl-C"),
    ],
    ids=["sigint", "sigterm"],
)
def test_the_stop_notice_names_the_signal_received(
    ws: Workspace, sig: signal.Signals, again: str, not_said: str
) -> None:
    ws.script("input.sh", QUIET_INPUT)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./input.sh", "./output.sh")
    proc = ws.popen("run", "t")
    try:
        wait_until("the frame to reach the output", lambda: ws.read_text("out.jsonl") != "")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    stderr = err.decode()
    assert f"dstream: stopping: draining what the inputs already wrote ({again})" in stderr
    assert not_said not in stderr.partition("dstream: stopping")[2].splitlines()[0], stderr
