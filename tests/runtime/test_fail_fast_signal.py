"""A Ctrl-C while --fail-fast drains the tasks it stopped is the user's first: it drains
on (docs/cli.md, "Signals"); only the user's second one forces. The fail-fast stop is no
signal of the user's and does not count as one (runtime/stopping.py `Stop`)."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.providers import SHELL_OUTPUT
from tests.services import wait_until
from tests.workspace import Workspace

pytestmark = pytest.mark.timeout(120)

# Fails once the slow task streams: the slow task is running when --fail-fast stops it.
FAILS_ONCE_SLOW_STREAMS = """
read -r command
echo '{"status":"ready","protocol":1}'
i=0
while [ ! -s out.jsonl ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
echo "boom" >&2
exit 3
"""

# Streams until killed; a SIGTERM (the drain's) is recorded in term.seen and ignored, so
# the drain lasts until dstream kills it: at half of stop_grace, or at once when forced.
IGNORES_SIGTERM = """
trap 'echo term >> term.seen' TERM
read -r command
echo '{"status":"ready","protocol":1}'
i=0
while :; do i=$((i+1)); echo "{\\"data\\":$i}"; sleep 0.05; done
"""

SECOND = "did not stop: a second interrupt"
HALF_GRACE = "did not stop within half of stop_grace (5 s): killing it"


def _drained_by_fail_fast(ws: Workspace) -> subprocess.Popen[bytes]:
    """`run --all --fail-fast`: "bad" fails, and "slow" (stop_grace 10 s) is draining."""
    ws.script("fails.sh", FAILS_ONCE_SLOW_STREAMS)
    ws.script("slow.sh", IGNORES_SIGTERM)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.config(
        """
        state { path = "state" }
        task "bad" {
          input  { provider_path = "./fails.sh" }
          output { provider_path = "dstream-null" }
        }
        task "slow" {
          stop_grace = "10s"
          input  { provider_path = "./slow.sh" }
          output { provider_path = "./output.sh" }
        }
        """
    )
    with open(ws.root / "stderr", "wb") as err:
        proc = ws.popen("run", "--all", "--fail-fast", stdout=subprocess.DEVNULL, stderr=err)

    def draining() -> bool:
        assert proc.poll() is None, ws.read_text("stderr")
        return ws.read_text("term.seen") != ""

    wait_until("--fail-fast to drain the slow task", draining)
    return proc


def test_a_first_ctrl_c_during_a_fail_fast_drain_drains_on(ws: Workspace) -> None:
    proc = _drained_by_fail_fast(ws)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 1, ws.read_text("stderr")  # bad failed: 1 wins
    text = ws.read_text("stderr")
    assert "press Ctrl-C again to force" in text, text
    assert SECOND not in text, text  # the user's first Ctrl-C forced nothing
    assert HALF_GRACE in text, text  # the drain went on to its own deadline


def test_a_second_ctrl_c_during_a_fail_fast_drain_forces(ws: Workspace) -> None:
    proc = _drained_by_fail_fast(ws)
    proc.send_signal(signal.SIGINT)
    wait_until("the first Ctrl-C's notice", lambda: "again to force" in ws.read_text("stderr"))
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 1, ws.read_text("stderr")
    text = ws.read_text("stderr")
    assert SECOND in text and HALF_GRACE not in text, text
