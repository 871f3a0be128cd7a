"""A Ctrl-C while --fail-fast drains the tasks it stopped is the user's first: it drains
on (docs/cli.md, "Signals"); only the user's second one forces. The fail-fast stop is no
signal of the user's and does not count as one (runtime/stopping.py `Stop`)."""

from __future__ import annotations

import signal

import pytest

from tests.providers import FAILING_TASK, SHELL_OUTPUT, fails_once
from tests.services import wait_until
from tests.workspace import Run, Workspace

pytestmark = pytest.mark.timeout(120)

# Streams until killed; a SIGTERM (the drain's) is recorded in term.seen and ignored, so
# the drain lasts until dstream kills it: at half of stop_grace, or at once when forced.
IGNORES_SIGTERM = """
trap 'echo term >> term.seen' TERM
read -r command
echo '{"status":"ready","protocol":1}'
i=0
while :; do i=$((i+1)); echo "{\\"data\\":$i}"; sleep 0.05; done
"""

# The task --fail-fast drains, for up to half of its stop_grace.
SLOW_TASK = """
task "slow" {
  stop_grace = "10s"
  input  { provider_path = "./slow.sh" }
  output { provider_path = "./output.sh" }
}
"""

SECOND = "did not stop: a second interrupt"
HALF_GRACE = "did not stop within half of stop_grace (5 s): killing it"


def _drained_by_fail_fast(ws: Workspace) -> Run:
    """`run --all --fail-fast`: "bad" fails, and "slow" (stop_grace 10 s) is draining."""
    ws.script("fails.sh", fails_once("out.jsonl"))  # once the slow task streams
    ws.script("slow.sh", IGNORES_SIGTERM)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.config('state { path = "state" }\n' + FAILING_TASK + SLOW_TASK)
    run = Run(ws, "run", "--all", "--fail-fast")

    def draining() -> bool:
        assert run.proc.poll() is None, run.stderr()
        return ws.read_text("term.seen") != ""

    wait_until("--fail-fast to drain the slow task", draining)
    return run


def test_a_first_ctrl_c_during_a_fail_fast_drain_drains_on(ws: Workspace) -> None:
    run = _drained_by_fail_fast(ws)
    run.signal(signal.SIGINT)
    assert run.wait() == 1, run.stderr()  # bad failed: 1 wins
    text = run.stderr()
    assert "press Ctrl-C again to force" in text, text
    assert SECOND not in text, text  # the user's first Ctrl-C forced nothing
    assert HALF_GRACE in text, text  # the drain went on to its own deadline


def test_a_second_ctrl_c_during_a_fail_fast_drain_forces(ws: Workspace) -> None:
    run = _drained_by_fail_fast(ws)
    run.signal(signal.SIGINT)
    wait_until("the first Ctrl-C's notice", lambda: run.says("again to force"))
    run.signal(signal.SIGINT)
    assert run.wait() == 1, run.stderr()
    text = run.stderr()
    assert SECOND in text and HALF_GRACE not in text, text
