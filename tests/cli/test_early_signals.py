"""SIGINT and SIGTERM end every command the same way wherever they arrive (docs/cli.md),
also in the console script's first milliseconds, while it imports the command line:
`error: interrupted by SIGINT` with a hint (one JSON document with --json), exit 130
(143 for SIGTERM). There a SIGINT was a raw KeyboardInterrupt traceback and a SIGTERM
a silent death.

Each check runs the console script's entry (cli/entry.py) in a fresh interpreter whose
import system sends the signal to the process itself as a given module is about to be
imported: the moment is the same on every run, however fast the machine."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Optional

import orjson
import pytest

from dstream.errors import ExitCode
from tests.cli import scenarios
from tests.services import wait_until
from tests.workspace import CliResult, Workspace, alive, environ

PROBE = """
import os, signal, sys, weakref
module, signum, ignore_sigint = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
if ignore_sigint:  # a shell's background job
    signal.signal(signal.SIGINT, signal.SIG_IGN)
lost = module.startswith("lost:")  # the signal's exception raised where Python drops it
module = module.removeprefix("lost:")
assert not set(module.split(",")) & set(sys.modules), module + ": imported already, no signal"

modules = module.split(",")  # one signal as each is about to be imported

class SignalAtImport:
    def find_spec(self, name, path=None, target=None):
        if name in modules:
            modules.remove(name)
            if not modules:
                sys.meta_path.remove(self)
            if lost:  # in a weakref's callback, as the import system's own locks have
                class Gone: pass
                gone = Gone()
                ref = weakref.ref(gone, lambda ref: signal.raise_signal(signum))
                del gone
            else:
                os.kill(os.getpid(), signum)
        return None

sys.meta_path.insert(0, SignalAtImport())
sys.argv = ["dstream", *sys.argv[4:]]
from dstream.cli.entry import run
run()
"""

SIGNALS = [
    pytest.param(signal.SIGINT, ExitCode.INTERRUPTED, "SIGINT", id="SIGINT"),
    pytest.param(signal.SIGTERM, ExitCode.TERMINATED, "SIGTERM", id="SIGTERM"),
]
# The start's imports, in their order: the warm start's package (the console script's
# first), the command line (while a snapshot's providers may run), argparse (by it).
MODULES = ["dstream.warm", "dstream.cli.app", "argparse"]


def signalled_at_import(
    ws: Workspace,
    module: str,
    sig: int,
    *args: str,
    ignore_sigint: bool = False,
    env: Optional[dict[str, str]] = None,
) -> CliResult:
    """`dstream ARGS` through the console script's entry, sent `sig` as `module` is about
    to be imported."""
    argv = [sys.executable, "-c", PROBE, module, str(int(sig)), "1" if ignore_sigint else "0"]
    done = subprocess.run(
        [*argv, *args], cwd=ws.root, env=environ({**ws.env, **(env or {})}),
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    return CliResult(list(args), done.returncode, done.stdout, done.stderr)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS)
def test_a_signal_during_the_start_ends_the_command_with_its_error(
    ws: Workspace, module: str, sig: int, code: int, name: str
) -> None:
    scenarios.counter_file(ws)
    done = signalled_at_import(ws, module, sig, "plan", "t")
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: interrupted by {name}\n  hint: "), done.stderr


@pytest.mark.timeout(120)
@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS)
def test_a_signal_during_the_start_of_a_json_command_prints_one_document(
    ws: Workspace, module: str, sig: int, code: int, name: str
) -> None:
    """The arguments are not parsed yet: --json as written on the command line decides."""
    scenarios.counter_file(ws)
    done = signalled_at_import(ws, module, sig, "plan", "t", "--json")
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    doc = orjson.loads(done.stdout)
    assert doc["ok"] is False, doc
    assert doc["message"] == f"interrupted by {name}", doc
    assert doc["hint"], doc


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS)
def test_a_second_signal_while_the_first_is_reported_is_no_traceback(
    ws: Workspace, sig: int, code: int, name: str
) -> None:
    """A double Ctrl-C: the second comes while the first one's error block is being
    written (its view imported then). The command is ending already: one error block."""
    scenarios.counter_file(ws)
    done = signalled_at_import(ws, "argparse,dstream.cli.view", sig, "plan", "t")
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"error: interrupted by {name}\n  hint: "), done.stderr


@pytest.mark.timeout(120)
def test_a_sigint_the_process_was_started_to_ignore_stays_ignored(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = signalled_at_import(
        ws, "dstream.cli.app", signal.SIGINT, "lint", "--json", ignore_sigint=True
    )
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["ok"] is True


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS)
def test_a_signal_whose_exception_python_dropped_still_stops_the_run(
    ws: Workspace, sig: int, code: int, name: str
) -> None:
    """A stop signal's exception raised inside a weakref's callback (or a `__del__`)
    is dropped by Python ("Exception ignored in: ... KeyboardInterrupt", a traceback):
    the import system's module locks have such callbacks, and a Ctrl-C that came while
    `run` imported its runtime was lost so, the endless run going on as if none came
    (a CI run of test_metrics_address hung so). The run takes it as its first stop, before
    any task started, and prints no traceback."""
    scenarios.counter_file(ws, count=0, interval=20)
    done = signalled_at_import(ws, "lost:dstream.runtime.runner", sig, "run", "t")
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
    assert "stopping before any task started" in done.stderr, done.stderr
    assert not (ws.root / "out.jsonl").exists() or ws.read_text("out.jsonl") == ""


# An input that notes its pid, then stays after one envelope while the file `stay` exists.
STAYING_INPUT = r"""
read -r command
echo $$ >> pids
printf '%s\n' '{"status":"ready","protocol":1}'
printf '{"data":1}\n{"checkpoint":{"n":1}}\n'
if [ -e stay ]; then exec sleep 1000; fi
"""


@pytest.mark.timeout(120)
def test_a_signal_while_a_warm_start_launches_stops_what_it_started(ws: Workspace) -> None:
    """`run --json` from a snapshot: the signal comes while the warm start takes the run
    lock and starts the providers (before the rest of dstream is imported). What it
    started stops, and the run ends with its one document."""
    ws.script("input.sh", STAYING_INPUT)
    ws.shell_output_task("./input.sh", state=True)
    env = {"DSTREAM_CACHE_DIR": str(ws.root / "cache")}
    first = signalled_at_import(ws, "nothing.at.all", signal.SIGINT, "run", "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert list((ws.root / "cache" / "warm").iterdir()), "the first run kept a snapshot"
    (ws.root / "stay").touch()
    # fcntl: imported by the warm start to take the run lock, before it starts anything
    done = signalled_at_import(ws, "fcntl", signal.SIGINT, "run", "--json", env=env)
    assert done.returncode == ExitCode.INTERRUPTED, done.stderr
    assert orjson.loads(done.stdout)["message"] == "interrupted by SIGINT"
    pids = [int(pid) for pid in ws.read_text("pids").split()]
    assert len(pids) == 2, "the warm start started the input: the signal came after"
    wait_until("the warm start's input to end", lambda: not alive(pids[1]), timeout=10)


@pytest.mark.timeout(120)
def test_a_run_started_to_ignore_sigint_ignores_it_while_it_streams(ws: Workspace) -> None:
    """A shell's background job (`dstream run &` in a script) starts with SIGINT ignored,
    and every command keeps it so (docs/cli.md: scripts stop dstream with SIGTERM); a
    run put its own handler in place once it streamed, and a SIGINT meant for the shell's
    foreground drained it. SIGTERM still stops it the documented way."""
    scenarios.counter_file(ws, count=0, interval=20)
    ignoring = "import signal, sys, os; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    ignoring += "os.execv(sys.argv[1], sys.argv[1:])"
    proc = subprocess.Popen(
        [sys.executable, "-c", ignoring, *ws.command("run", "t")], cwd=ws.root,
        env=environ(ws.env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_until("streaming", lambda: (ws.root / "out.jsonl").exists())
        proc.send_signal(signal.SIGINT)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == ExitCode.TERMINATED
    finally:
        if alive(proc):
            proc.kill()
        proc.communicate()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS)
@pytest.mark.parametrize(
    ("command", "module"),
    [
        pytest.param(("lint",), "dstream.cli.lint", id="lint-start"),
        pytest.param(("plan", "t"), "dstream.config.loader", id="plan-execute"),
    ],
)
def test_any_command_stops_on_a_signal_whose_exception_python_dropped(
    ws: Workspace, sig: int, code: int, name: str, command: tuple[str, ...], module: str
) -> None:
    """Not only `run` and `agent`: a command whose stop signal's exception Python dropped
    (in a weakref's callback) ends as on an ordinary Ctrl-C, whether the signal came while
    the command was loaded (its module) or while it worked (a module it imports then),
    never with exit 0 as if no signal came."""
    scenarios.counter_file(ws)
    done = signalled_at_import(ws, f"lost:{module}", sig, *command)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: interrupted by {name}\n  hint: "), done.stderr


# A lifecycle provider that notes each command it is given, then answers it changed nothing.
NOTING_LIFECYCLE = r"""
import json, sys
command = json.loads(sys.stdin.readline())["command"]
with open("commands", "a") as noted:
    noted.write(command + "\n")
print(json.dumps({"status": "ready", "features": ["lifecycle"]}), flush=True)
print(json.dumps({"status": "Success", "resources": [], "changes": []}), flush=True)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS)
def test_init_changes_nothing_after_a_signal_whose_exception_python_dropped(
    ws: Workspace, sig: int, code: int, name: str
) -> None:
    """The signal comes as `init` imports the lifecycle, just before it asks the providers
    to create what the task needs: none is asked, and the --json document says why."""
    ws.python_script("lc.py", NOTING_LIFECYCLE)
    ws.task("./lc.py", "./lc.py")
    done = signalled_at_import(ws, "lost:dstream.runtime.lifecycle", sig, "init", "t", "--json")
    assert done.returncode == code, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
    assert orjson.loads(done.stdout)["message"] == f"interrupted by {name}"
    assert not (ws.root / "commands").exists(), ws.read_text("commands")
