"""How a warm start (dstream/warm) ends what it started and the run does not take over
(chaos report, items 1 and 2): whatever the moment, every provider is killed, its
pipes closed and it is reaped, without waiting for ever, and a second Ctrl-C during
that does not break it off half-way with a traceback.

The moments are made deterministic with the interpreter's own fork hooks
(os.register_at_fork), set by the script a test runs, so that nothing in dstream's
start path waits or checks for a test: a child parks itself (SIGSTOP) right after its
fork, before it makes its own session; a provider's death (SIGCHLD) sends the second
SIGINT while the warm start stops it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workspace import Workspace, children, environ

ENTRY = "sys.argv[0] = 'dstream'\nfrom dstream.cli.entry import run\nrun()\n"
WARM = "started by a warm start"

# Parks the warm start's output child (the second fork) between its fork and its
# setsid(): it then has no process group of its own, and nothing will continue it.
PARK_THE_SECOND_FORK = """
import os, signal, sys
forks = []
os.register_at_fork(
    before=lambda: forks.append(1),
    after_in_child=lambda: len(forks) == 2 and os.kill(os.getpid(), signal.SIGSTOP),
)
"""

# One envelope and its checkpoint, then the input stays while the file `stay` exists.
INPUT = """
read -r command
printf '%s\\n' '{"status":"ready","protocol":1}'
printf '{"data":1}\\n{"checkpoint":{"n":1}}\\n'
[ -f stay ] && exec sleep 1000
exit 0
"""


# The prelude of a script that abandons a warm start: `dstream run -q`'s warm start
# launched (its providers in `launched`), and a SIGINT sent as each of them dies.
LAUNCHED = """
import os, signal, sys
from dstream import warm
warm.launch(["run", "-q"])
launched = warm._launched
assert launched is not None, "no warm start"
signal.signal(signal.SIGCHLD, lambda *_: os.kill(os.getpid(), signal.SIGINT))
"""


def _script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(body)
    return path


def _run(ws: Workspace, cache: Path, script: Path) -> subprocess.Popen[bytes]:
    full = {**ws.env, "DSTREAM_CACHE_DIR": str(cache), "DSTREAM_LOG_LEVEL": "debug"}
    return subprocess.Popen(
        [sys.executable, str(script), "run", "-q"], cwd=ws.root, env=environ(full),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    """Its exit code and stderr; when it hangs, what it started (parked or not) and it
    are killed, and the test fails."""
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        for pid in children(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        _, err = proc.communicate()
        pytest.fail("it hung:\n" + err.decode(errors="replace"))
    return proc.returncode, err.decode(errors="replace")


def _first_run(ws: Workspace, cache: Path, input_body: str) -> None:
    """A run as always, which keeps its start for the next one (a snapshot)."""
    ws.script("input.sh", input_body)
    ws.shell_output_task("./input.sh", state=True)
    script = _script(ws.root, "entry.py", "import sys\n" + ENTRY)
    code, err = _finish(_run(ws, cache, script))
    assert code == 0, err
    assert WARM not in err, err
    assert list((cache / "warm").iterdir()), "no snapshot was kept"


@pytest.fixture
def staying(ws: Workspace, tmp_path: Path) -> Path:
    """A first run kept its start (in the cache returned) with INPUT, which stays from
    now on: a warm start's providers live until they are ended."""
    cache = tmp_path / "cache"
    _first_run(ws, cache, INPUT)
    (ws.root / "stay").write_text("")
    return cache


@pytest.mark.timeout(120)
def test_a_child_ended_before_its_own_session_is_killed_and_reaped(ws: Workspace) -> None:
    """kill_child on a child that has not made its session yet: killpg found no group
    (ESRCH, ignored) and waitpid waited for ever for a child nobody had killed."""
    script = _script(
        ws.root,
        "park.py",
        PARK_THE_SECOND_FORK
        + """
from dstream.warm import child
provider = {"role": "output", "prefix": [], "argv": ["/bin/cat"], "cwd": os.getcwd(),
            "inherit": [], "env": {}, "command": [b"{}\\n"]}
os.fork() or os._exit(0)  # the first fork: not parked
forked = child.spawn_child(provider)
assert os.getpgid(forked.pid) != forked.pid  # parked before its setsid()
child.kill_child(forked)
try:
    os.waitpid(forked.pid, os.WNOHANG)
    sys.exit("not reaped")
except ChildProcessError:
    pass
assert forked.stdin == forked.stdout == forked.stderr == forked.report == -1, vars(forked)
""",
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=ws.root, env=environ(ws.env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    code, err = _finish(proc)
    assert code == 0, err


@pytest.mark.timeout(180)
def test_a_warm_start_whose_input_cannot_exec_ends_an_output_still_forking(
    ws: Workspace, tmp_path: Path
) -> None:
    """The input's exec fails (its interpreter is gone; the script itself, which the
    snapshot checks, is unchanged) while the output's child has not made its session
    yet: the warm start kills what it started and the run goes on as always (and is
    refused, saying why), where it waited for ever on the output."""
    cache = tmp_path / "cache"
    interpreter = ws.root / "interp"
    interpreter.symlink_to("/bin/sh")
    _first_run(ws, cache, f"#!{interpreter}\n{INPUT}")
    interpreter.unlink()
    script = _script(ws.root, "parked.py", PARK_THE_SECOND_FORK + ENTRY)
    proc = _run(ws, cache, script)
    code, err = _finish(proc)
    assert code == 2, err
    assert WARM not in err, err
    assert f"names the interpreter {interpreter}, which does not exist" in err, err


@pytest.mark.timeout(180)
def test_a_second_sigint_while_a_warm_start_is_abandoned_at_exit_is_no_traceback(
    ws: Workspace, staying: Path
) -> None:
    """A run that ends before the runtime takes its warm start over stops it at exit
    (atexit); a SIGINT then (here: sent as its providers die) broke that off with
    'Exception ignored in atexit callback' and a traceback, leaving it half done."""
    script = _script(
        ws.root,
        "abandon.py",
        LAUNCHED + "sys.exit(130)  # the run ended before it took its providers over\n",
    )
    code, err = _finish(_run(ws, staying, script))
    assert code == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err, err


@pytest.mark.timeout(180)
def test_the_providers_abandoned_are_dead_before_the_warm_start_returns(
    ws: Workspace, staying: Path
) -> None:
    """abandon() kills, closes and reaps before it returns, a second SIGINT or not."""
    script = _script(
        ws.root,
        "abandon.py",
        LAUNCHED
        + """
try:
    warm.abandon()
except KeyboardInterrupt:
    print("interrupted after", flush=True)
for child in (launched.input, launched.output):
    try:
        os.waitpid(child.pid, os.WNOHANG)
        print("not reaped", child.pid, flush=True)
    except ChildProcessError:
        pass
    assert child.stdin == child.stdout == child.stderr == -1, vars(child)
assert launched.lock_fd == -1
print("ended", flush=True)
""",
    )
    proc = _run(ws, staying, script)
    out, err = proc.communicate(timeout=60)
    text = err.decode(errors="replace")
    assert proc.returncode == 0, text
    # The second SIGINT is handled once the providers are ended, not half-way.
    assert out.decode().splitlines() == ["interrupted after", "ended"], text


def test_the_reaping_wait_is_the_runtimes() -> None:
    """dstream/warm runs before runtime/process.py is imported: its twin of KILL_WAIT."""
    from dstream.runtime.process import KILL_WAIT
    from dstream.warm.child import REAP_WAIT

    assert REAP_WAIT == KILL_WAIT
