"""One stop signal delivered twice at once is one stop, not a forced one. coreutils
`timeout` (cron jobs, CI steps: `timeout 1h dstream run`) signals its child and then its
whole process group, which holds the child: dstream may take both. Taken as a second
interrupt, the second delivery killed every provider at once, undrained ("did not
stop: a second interrupt"), where one SIGTERM asks for a drain. A repeat of the same
signal within ECHO_WINDOW of the first is that echo; a later one, or the other stop
signal, forces as before. The handler is the real one, installed in this process and
run by real signals (`signal.raise_signal`)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from dstream.errors import ExitCode
from dstream.runtime.signals import ECHO_WINDOW, StopSignals
from tests.providers import SHELL_OUTPUT
from tests.services import wait_until
from tests.workspace import Run, Workspace


def _stopping() -> tuple[StopSignals, list[tuple[int, int]]]:
    seen: list[tuple[int, int]] = []
    return StopSignals(lambda signum, requests: seen.append((signum, requests))), seen


def test_the_same_signal_twice_at_once_is_one_stop() -> None:
    signals, seen = _stopping()
    with signals:
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)  # the process group's copy, microseconds later
    assert seen == [(signal.SIGTERM, 1)]
    assert signals.stopping and not signals.forced


def test_the_same_signal_again_after_the_window_forces() -> None:
    signals, seen = _stopping()
    with signals:
        signal.raise_signal(signal.SIGTERM)
        time.sleep(ECHO_WINDOW * 1.2)  # a person's or a supervisor's second signal
        signal.raise_signal(signal.SIGTERM)
    assert seen == [(signal.SIGTERM, 1), (signal.SIGTERM, 2)]
    assert signals.forced


def test_the_other_stop_signal_at_once_forces() -> None:
    signals, seen = _stopping()
    with signals:
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)
    assert seen == [(signal.SIGINT, 1), (signal.SIGTERM, 2)]
    assert signals.forced


# Ignores SIGTERM: only the stop's deadline (half of stop_grace) or a second signal
# ends it. It says when it is ready.
DEAF_INPUT = """
trap '' TERM
read -r command
echo '{"status":"ready","protocol":1}'
echo '{"data":1}'
touch streaming
exec sleep 300
"""


@pytest.mark.timeout(60)
def test_a_run_signalled_as_coreutils_timeout_does_drains(ws: Workspace) -> None:
    """SIGTERM to the process, then to its process group at once (`timeout`'s two
    kill() calls, here two in a row): a drain, not a forced stop. Whether the two
    reach the handler apart or merged into one is the kernel's timing: the tests above
    are the reproduction; this one shows the whole run drains either way."""
    ws.script("input.sh", DEAF_INPUT)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./input.sh", "./output.sh", settings='stop_grace = "2s"')
    run = Run(ws, "run", "t")
    wait_until("the stream", lambda: (ws.root / "streaming").exists())
    os.kill(run.proc.pid, signal.SIGTERM)
    os.kill(run.proc.pid, signal.SIGTERM)
    assert run.wait() == ExitCode.TERMINATED, run.stderr()
    text = run.stderr()
    assert "a second interrupt" not in text, text
    assert "did not stop within half of stop_grace" in text, text  # drained, to the deadline
