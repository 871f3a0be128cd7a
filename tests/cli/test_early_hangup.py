"""SIGHUP, a service manager's reload (`systemctl reload`), at any moment of `dstream
run`'s life: in its first milliseconds (while it imports the command line, reads the
configuration) it is a reload the run applies as soon as it streams, and after its
tasks ended it is ignored. Until then only SIGINT and SIGTERM were held while the
command started, and the reload's handler was in place only while the tasks ran: a
SIGHUP either side killed the run silently (exit 129, no summary, no history).
Other commands keep SIGHUP's default (docs/cli.md, "Signals").

Each check runs the console script's entry in a fresh interpreter that sends the signal
to itself as a given module is about to be imported (tests/cli/test_early_signals.py):
the moment is the same on every run, however fast the machine."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from dstream.errors import ExitCode
from tests.cli import scenarios
from tests.services import wait_until
from tests.workspace import Workspace, environ

# As tests/cli/test_early_signals.py's, with a configuration written (if given) just
# before the signal: the edit a reload is sent for.
PROBE = """
import os, signal, sys
module, signum, config = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# As a shell starts a command: a test run under nohup (CI's) would hand down SIGHUP
# ignored, which dstream keeps ignored.
signal.signal(signal.SIGHUP, signal.SIG_DFL)
assert module not in sys.modules, module + ": imported already, no signal"

class SignalAtImport:
    def find_spec(self, name, path=None, target=None):
        if name == module:
            sys.meta_path.remove(self)
            if config:
                with open("dstream.hcl", "w") as handle:
                    handle.write(config)
            os.kill(os.getpid(), signum)
        return None

sys.meta_path.insert(0, SignalAtImport())
sys.argv = ["dstream", *sys.argv[4:]]
from dstream.cli.entry import run
run()
"""


def hangup_at_import(
    ws: Workspace, module: str, *args: str, config: str = ""
) -> subprocess.Popen[bytes]:
    """`dstream ARGS` through the console script's entry, sent SIGHUP as `module` is
    about to be imported (`config` written as dstream.hcl first, if given)."""
    argv = [sys.executable, "-c", PROBE, module, str(int(signal.SIGHUP)), config, *args]
    return subprocess.Popen(
        argv, cwd=ws.root, env=environ(ws.env), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


# The start's imports: the warm start's package (the console script's first), the
# command line, argparse (by it).
STARTING = ["dstream.warm", "dstream.cli.app", "argparse"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("module", STARTING)
def test_a_sighup_while_the_run_starts_does_not_kill_it(ws: Workspace, module: str) -> None:
    scenarios.counter_file(ws, count=10)
    proc = hangup_at_import(ws, module, "run", "t")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.OK, err.decode()
    assert "Traceback" not in err.decode(), err.decode()
    assert len(ws.json_lines("out.jsonl")) == 10
    assert "task t: completed" in err.decode(), err.decode()


@pytest.mark.timeout(120)
def test_a_sighup_after_the_configuration_was_read_reloads_it_once_the_run_streams(
    ws: Workspace,
) -> None:
    """`systemctl reload` right after `systemctl start`: the file was edited after the
    run read it, before it streamed. The edit is applied, as a reload is later."""
    scenarios.counter_file(ws, count=0, interval=20)
    edited = ws.read_text("dstream.hcl").replace('"out.jsonl"', '"edited.jsonl"')
    # dstream.runtime.resume: imported once the configuration is read (the checks of its
    # inputs), before the tasks start.
    proc = hangup_at_import(ws, "dstream.runtime.resume", "run", "t", config=edited)
    try:
        wait_until(
            "the reloaded definition's output",
            lambda: proc.poll() is not None or (ws.root / "edited.jsonl").exists(),
        )
        assert proc.poll() is None, proc.communicate()[1].decode()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == ExitCode.TERMINATED, err.decode()
    assert "task t: its definition changed: restarting it" in err.decode(), err.decode()


@pytest.mark.timeout(120)
def test_a_sighup_after_the_tasks_ended_is_ignored(ws: Workspace) -> None:
    """shlex: imported as the run writes its last line (with -c: the options to run it
    again), after its tasks ended."""
    scenarios.counter_file(ws, count=10)
    proc = hangup_at_import(ws, "shlex", "run", "t", "-c", "dstream.hcl")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.OK, err.decode()
    assert "task t: completed" in err.decode(), err.decode()


@pytest.mark.timeout(120)
def test_other_commands_keep_sighups_default(ws: Workspace) -> None:
    """A terminal's hangup ends `dstream plan` as it ends any short command."""
    scenarios.counter_file(ws, count=10)
    proc = hangup_at_import(ws, "argparse", "plan", "t")
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGHUP
