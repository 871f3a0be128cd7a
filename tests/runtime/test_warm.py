"""A warm start (dstream/warm, runtime/warmplan.py): the second `dstream run` of an
unchanged project starts its providers from the first one's snapshot, resumes from the
checkpoint the first one stored, and anything that changed, or that a snapshot may not
hold, starts the run as always.

Every run here goes through the console script's entry (cli/entry.py), as a user's
does (other tests start `python -m dstream.cli.app`, which never starts warm), with a
cache directory of its own; the runtime says at debug level when it took over what a
warm start started.
"""

from __future__ import annotations

import fcntl
import marshal
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import orjson
import pytest

from dstream.oci.manifest import current_platform
from tests.containers import Registry
from tests.providers import SHELL_OUTPUT
from tests.services import wait_until
from tests.workspace import CliResult, Workspace, alive, children, environ

ENTRY = "import sys; sys.argv[0] = 'dstream'; from dstream.cli.entry import run; run()"
WARM = "started by a warm start"

# An input that notes the command line it got, then sends one envelope whose checkpoint
# counts its runs: a resumed run's command line holds the previous run's count.
INPUT = r"""
read -r command
printf '%s\n' "$command" >> commands.log
n=$(( $(cat runs 2>/dev/null || echo 0) + 1 ))
echo "$n" > runs
printf '%s\n' '{"status":"ready","protocol":1}'
printf '{"data":%d}\n{"checkpoint":{"n":%d}}\n' "$n" "$n"
"""


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def console(
    ws: Workspace, cache: Path, *args: str, env: Optional[dict[str, str]] = None
) -> CliResult:
    """`dstream ARGS` through the console script's entry, in the workspace."""
    full = {**ws.env, "DSTREAM_CACHE_DIR": str(cache), "DSTREAM_LOG_LEVEL": "debug", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *args], cwd=ws.root, env=environ(full),
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    return CliResult(list(args), done.returncode, done.stdout, done.stderr)


def snapshots(cache: Path) -> list[Path]:
    directory = cache / "warm"
    return sorted(directory.iterdir()) if directory.exists() else []


def project(ws: Workspace, input_body: str = INPUT) -> None:
    ws.script("input.sh", input_body)
    ws.shell_output_task("./input.sh", state=True)


def states(ws: Workspace) -> list[object]:
    """The state each run's input was given, in order."""
    return [orjson.loads(line)["state"] for line in ws.read_text("commands.log").splitlines()]


def run_ok(
    ws: Workspace,
    cache: Path,
    *,
    warm: bool,
    env: Optional[dict[str, str]] = None,
    args: tuple[str, ...] = ("run", "-q"),
) -> CliResult:
    done = console(ws, cache, *args, env=env)
    assert done.returncode == 0, done.stderr
    assert (WARM in done.stderr) is warm, done.stderr
    return done


def test_a_second_run_starts_warm_and_resumes_from_the_first_ones_checkpoint(
    ws: Workspace, cache: Path
) -> None:
    project(ws)
    run_ok(ws, cache, warm=False)
    assert len(snapshots(cache)) == 1
    run_ok(ws, cache, warm=True)
    run_ok(ws, cache, warm=True)
    assert states(ws) == [None, {"n": 1}, {"n": 2}]
    assert ws.json_lines("out.jsonl") == [{"data": 1}, {"data": 2}, {"data": 3}]


def test_the_snapshot_is_private_and_holds_no_environment_value(ws: Workspace, cache: Path) -> None:
    project(ws)
    run_ok(ws, cache, warm=False, env={"HTTP_PROXY": "http://user:pa55w0rd-proxy@proxy:3128"})
    (path,) = snapshots(cache)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (cache / "warm").stat().st_mode & 0o777 == 0o700
    assert b"pa55w0rd-proxy" not in path.read_bytes()


def test_a_warm_start_does_not_follow_a_link_planted_as_the_run_lock(
    ws: Workspace, cache: Path, tmp_path: Path
) -> None:
    """The run lock, taken by the warm start before the runtime's checks: a link there
    is refused as the runtime refuses it, and the file it names is left alone."""
    project(ws)
    run_ok(ws, cache, warm=False)
    (lock,) = (p for p in ws.root.rglob(".*.run.lock"))
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    lock.unlink()
    lock.symlink_to(victim)
    done = console(ws, cache, "run", "-q")
    assert done.returncode != 0
    assert "symbolic link" in done.stderr, done.stderr
    assert victim.read_text() == "keep me\n"


def test_an_edited_configuration_starts_as_always_and_is_kept_anew(
    ws: Workspace, cache: Path
) -> None:
    project(ws)
    run_ok(ws, cache, warm=False)
    with open(ws.root / "dstream.hcl", "a") as handle:
        handle.write("# edited\n")
    run_ok(ws, cache, warm=False)
    run_ok(ws, cache, warm=True)
    assert states(ws) == [None, {"n": 1}, {"n": 2}]


@pytest.mark.parametrize(
    "changed",
    [
        {"DSTREAM_ANYTHING": "1"},
        {"LANG": "C.UTF-8-changed"},
        {"LC_TIME": "C"},
        {"TZ": "UTC"},
        {"XDG_STATE_HOME": "/elsewhere"},
    ],
)
def test_a_changed_environment_starts_as_always(
    ws: Workspace, cache: Path, changed: dict[str, str]
) -> None:
    project(ws)
    run_ok(ws, cache, warm=False)
    run_ok(ws, cache, warm=False, env=changed)


def test_a_configuration_edited_during_the_run_is_not_kept(ws: Workspace, cache: Path) -> None:
    """dstream.hcl edited while a run streams: a snapshot written at the run's end with
    the edited file's digest would let the next run start this run's providers, with
    the old configuration, for the new one. No snapshot is kept, so the next run
    starts from the edited file."""
    project(ws, "printf '# edited during the run\\n' >> dstream.hcl\n" + INPUT)
    run_ok(ws, cache, warm=False)
    assert snapshots(cache) == []
    run_ok(ws, cache, warm=False)


def test_a_configuration_replaced_by_a_fifo_is_not_waited_on(ws: Workspace, cache: Path) -> None:
    """The snapshot's key digests dstream.hcl before anything else reads it: a FIFO put
    in its place (no writer) must be a miss, not a wait; the run then refuses it as
    the loader does (not a regular file)."""
    project(ws)
    run_ok(ws, cache, warm=False)
    (ws.root / "dstream.hcl").unlink()
    os.mkfifo(ws.root / "dstream.hcl")
    done = console(ws, cache, "run", "-q")  # a wait would time out and fail the test
    assert done.returncode == 2, done.stderr
    assert "not a regular file" in done.stderr and WARM not in done.stderr


def test_a_replaced_provider_starts_as_always(ws: Workspace, cache: Path) -> None:
    project(ws)
    run_ok(ws, cache, warm=False)
    project(ws, INPUT + "# replaced\n")
    run_ok(ws, cache, warm=False)


def ref_project(ws: Workspace, cache: Path, registry: Registry) -> Callable[[str], None]:
    """Task "t" from a provider_ref (an INPUT that first appends the version it was
    pushed as to `starts`) into SHELL_OUTPUT; returns what pushes a version to its tag."""
    ref = f"{registry.host}/p/cnt:1"
    starts = ws.root / "starts"

    def push(version: str) -> None:
        body = f"printf '%s\\n' {version} >> {starts}\n{INPUT}"
        script = ws.script("input.sh", body)
        pushed = console(ws, cache, "providers", "push", f"{script}:{current_platform()}",
                         "--ref", ref)  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr

    ws.script("output.sh", SHELL_OUTPUT)
    ws.config(
        f'state {{ path = "state" }}\ntask "t" {{\n  input {{ provider_ref = "{ref}" }}\n'
        '  output { provider_path = "./output.sh" }\n}\n'
    )
    return push


def test_a_provider_ref_whose_tag_moved_starts_only_the_new_executable(
    ws: Workspace, cache: Path, registry: Registry
) -> None:
    """A provider_ref's tag pulled again to another artifact: the snapshot's executable
    (still in the cache) is not what the run decides, so it is never started; the run
    starts the new one, and keeps that start for the next run."""
    push = ref_project(ws, cache, registry)
    push("v1")
    run_ok(ws, cache, warm=False)
    run_ok(ws, cache, warm=True)
    push("v2")
    pulled = console(ws, cache, "providers", "pull", "--refresh", f"{registry.host}/p/cnt:1")
    assert pulled.returncode == 0, pulled.stderr
    done = run_ok(ws, cache, warm=False)
    assert "a bug in what its key covers" not in done.stderr, done.stderr
    assert ws.read_text("starts").split() == ["v1", "v1", "v2"]
    run_ok(ws, cache, warm=True)
    assert ws.read_text("starts").split() == ["v1", "v1", "v2", "v2"]


def test_a_provider_ref_resolved_again_by_its_age_never_starts_warm(
    ws: Workspace, cache: Path, registry: Registry
) -> None:
    """DSTREAM_PROVIDER_MAX_AGE makes a tag due for resolving again by the clock: what
    the run starts is the registry's to say, so no snapshot starts the cached one."""
    push = ref_project(ws, cache, registry)
    push("v1")
    run_ok(ws, cache, warm=False, env={"DSTREAM_PROVIDER_MAX_AGE": "0"})
    push("v2")
    done = run_ok(ws, cache, warm=False, env={"DSTREAM_PROVIDER_MAX_AGE": "0"})
    assert "a bug in what its key covers" not in done.stderr, done.stderr
    assert ws.read_text("starts").split() == ["v1", "v2"]


def test_a_schema_learnt_after_the_snapshot_is_checked_before_anything_starts(
    ws: Workspace, cache: Path
) -> None:
    """`dstream lint` learns the input's schema (a describe probe) after a run kept its
    snapshot: the next run checks its config by it before any provider starts, as a run
    with no snapshot does, instead of starting warm and stopping what it started."""
    probe = (
        'if [ "$DSTREAM_DESCRIBE" = 1 ]; then\n'
        '  echo \'{"status":"ready","protocol":1,'
        '"config_schema":{"type":"object","required":["needed"]}}\'\n'
        "  exit 0\n"
        "fi\n"
    )
    project(ws, probe + INPUT)
    run_ok(ws, cache, warm=False)
    assert console(ws, cache, "lint").returncode == 2
    done = console(ws, cache, "run", "-q")
    assert done.returncode == 2, done.stderr
    assert "missing required config key" in done.stderr and WARM not in done.stderr
    assert states(ws) == [None]  # the input never started again


TASK = """
task "t" {
  input {
    provider_path = "./input.sh"
    config { seen = %s }
  }
  output { provider_path = "./output.sh" }
}
"""


@pytest.mark.parametrize(
    "config",
    [
        TASK % 'env("HOME")',
        'variable "pw" {\n  default   = "hunter2-hunter2"\n  sensitive = true\n}\n'
        + TASK % "var.pw",
        TASK % '"{{ now }}"',
    ],
    ids=["reads the environment", "holds a sensitive value", "reads the clock"],
)
def test_what_a_snapshot_may_not_hold_is_never_kept(
    ws: Workspace, cache: Path, config: str
) -> None:
    ws.script("input.sh", INPUT)
    ws.shell_output_task("./input.sh")
    ws.config(config)
    done = console(ws, cache, "run", "-q")
    assert done.returncode == 0, done.stderr
    assert ws.json_lines("out.jsonl") == [{"data": 1}]
    assert snapshots(cache) == []


def test_arguments_that_change_nothing_of_the_start_are_kept(ws: Workspace, cache: Path) -> None:
    project(ws)
    args = ("run", "t", "--json", "--fail-fast", "-c", "dstream.hcl")
    run_ok(ws, cache, warm=False, args=args)
    done = run_ok(ws, cache, warm=True, args=args)
    assert orjson.loads(done.stdout)["ok"] is True
    run_ok(ws, cache, warm=False, args=("run", "--all", "-q"))  # other arguments: its own


def test_arguments_that_change_the_start_are_never_kept(ws: Workspace, cache: Path) -> None:
    project(ws)
    for args in (["run", "--reset-state"], ["run", "--var", "x=1"]):
        done = console(ws, cache, *args)
        assert done.returncode in (0, 2), done.stderr
    assert snapshots(cache) == []


def test_a_task_another_run_holds_is_not_started(ws: Workspace, cache: Path) -> None:
    project(ws)
    run_ok(ws, cache, warm=False)
    fd = os.open(ws.root / "state" / ".t.run.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = console(ws, cache, "run", "-q")
    finally:
        os.close(fd)
    assert done.returncode != 0 and "already" in done.stderr, done.stderr
    assert states(ws) == [None]  # the input never started


def test_a_snapshot_that_starts_something_else_is_caught_and_started_again(
    ws: Workspace, cache: Path
) -> None:
    """What the key does not cover would start a provider the run did not decide on:
    the runtime compares, says so, stops both and starts its own."""
    project(ws)
    run_ok(ws, cache, warm=False)
    (path,) = snapshots(cache)
    plan = marshal.loads(path.read_bytes())
    plan["providers"]["output"]["env"]["NOT_DECIDED"] = "1"
    path.write_bytes(marshal.dumps(plan))
    done = console(ws, cache, "run", "-q")
    assert done.returncode == 0, done.stderr
    assert "a bug in what its key covers" in done.stderr
    assert WARM not in done.stderr
    assert states(ws) == [None, {"n": 1}, {"n": 1}]  # its own input resumed the same
    assert {"data": 3} in ws.json_lines("out.jsonl")
    run_ok(ws, cache, warm=True)  # the run kept its own start for the next one


def test_an_input_that_answers_otherwise_is_shaken_hands_with_by_the_run(
    ws: Workspace, cache: Path
) -> None:
    """The warm pump begins only on the handshake the snapshot recorded; another one is
    the run's own to read, from where the warm start left it."""
    changing = INPUT.replace(
        'printf \'%s\\n\' \'{"status":"ready","protocol":1}\'',
        'if [ "$n" = 1 ]; then echo \'{"status":"ready","protocol":1}\'; '
        'else echo \'{"status":"ready","protocol":1,"features":[]}\'; fi',
    )
    assert changing != INPUT
    project(ws, changing)
    run_ok(ws, cache, warm=False)
    run_ok(ws, cache, warm=True)
    assert ws.json_lines("out.jsonl") == [{"data": 1}, {"data": 2}]


def test_warm_starts_can_be_turned_off(ws: Workspace, cache: Path) -> None:
    project(ws)
    run_ok(ws, cache, warm=False, env={"DSTREAM_WARM_START": "0"})
    assert snapshots(cache) == []


def test_the_built_in_demo_is_never_kept(ws: Workspace, cache: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "run", "demo"], cwd=ws.root,
        env=environ({**ws.env, "DSTREAM_CACHE_DIR": str(cache)}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the first envelope: the run is past its start
    finally:
        proc.send_signal(2)
        proc.communicate(timeout=30)
    assert snapshots(cache) == []


def test_a_snapshot_that_does_not_read_is_a_miss(ws: Workspace, cache: Path) -> None:
    project(ws)
    run_ok(ws, cache, warm=False)
    (path,) = snapshots(cache)
    for damaged in (b"not marshal", marshal.dumps({"format": 1}), marshal.dumps([1])):
        path.write_bytes(damaged)
        assert "warm start failed" not in run_ok(ws, cache, warm=False).stderr


def test_a_failing_warm_start_is_reported_and_the_run_starts_as_always(
    ws: Workspace, cache: Path
) -> None:
    project(ws)
    run_ok(ws, cache, warm=False)
    code = (
        "import sys; from dstream import warm\n"
        "def broken(*args): raise RuntimeError('broken on purpose')\n"
        "warm.fresh = broken\n" + ENTRY.replace("; from dstream", "\nfrom dstream")
    )
    full = {**ws.env, "DSTREAM_CACHE_DIR": str(cache), "DSTREAM_LOG_LEVEL": "debug"}
    done = subprocess.run(
        [sys.executable, "-c", code, "run", "-q"], cwd=ws.root, env=environ(full),
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    assert "the warm start failed (RuntimeError: broken on purpose)" in stderr
    assert WARM not in stderr
    assert ws.json_lines("out.jsonl") == [{"data": 1}, {"data": 2}]


# One envelope, then a provider that stays and never writes again (a pipe write cannot
# end it when dstream is gone): only the parent-death signal or the watchdog ends it.
STAYS = INPUT + "exec sleep 1000\n"


@pytest.mark.parametrize("when", ["at the first envelope", "once taken over"])
def test_providers_of_a_warm_start_die_with_a_killed_dstream(
    ws: Workspace, cache: Path, when: str
) -> None:
    """SIGKILL leaves nothing running, before the runtime took the providers over (the
    parent-death signal the warm start set) as after (the watchdog too)."""
    project(ws, STAYS)
    full = {**ws.env, "DSTREAM_CACHE_DIR": str(cache), "DSTREAM_LOG_LEVEL": "debug"}
    log = ws.root / "dstream.log"

    def start() -> subprocess.Popen[bytes]:
        with open(log, "wb") as stderr:
            return subprocess.Popen(
                [sys.executable, "-c", ENTRY, "run", "-q"], cwd=ws.root, env=environ(full),
                stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip

    first = start()  # it keeps its start once it ends cleanly
    wait_until("the first run's envelope", lambda: ws.json_lines("out.jsonl"))
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=30) == 130, log.read_text()
    seen = len(ws.json_lines("out.jsonl"))
    proc = start()
    wait_until("the warm run's envelope", lambda: len(ws.json_lines("out.jsonl")) > seen)
    if when == "once taken over":
        wait_until("the takeover", lambda: WARM in log.read_text())
    providers = children(proc.pid)
    assert len(providers) == 2
    proc.kill()
    proc.wait(timeout=30)
    wait_until("the providers' end", lambda: not [p for p in providers if alive(p)], timeout=5)


def test_a_snapshot_of_another_state_is_caught(ws: Workspace, cache: Path) -> None:
    """The same command lines, but the checkpoint was looked for elsewhere than where
    this run's store keeps it: not taken over."""
    no_checkpoint = INPUT.replace('\\n{"checkpoint":{"n":%d}}', "").replace(' "$n" "$n"', ' "$n"')
    assert no_checkpoint != INPUT and "checkpoint" not in no_checkpoint
    project(ws, no_checkpoint)
    run_ok(ws, cache, warm=False)
    (path,) = snapshots(cache)
    plan = marshal.loads(path.read_bytes())
    plan["state_path"] = str(ws.root / "elsewhere.json")
    path.write_bytes(marshal.dumps(plan))
    done = console(ws, cache, "run", "-q")
    assert done.returncode == 0, done.stderr
    assert "differs from what this run decides (state;" in done.stderr


@pytest.mark.parametrize("where", ["file", "directory"])
def test_a_snapshot_others_could_write_is_never_read(
    ws: Workspace, cache: Path, where: str
) -> None:
    """A snapshot names programs that start before anything is compared with the
    configuration: one that another user could have written is ignored."""
    project(ws)
    run_ok(ws, cache, warm=False)
    (path,) = snapshots(cache)
    target = path if where == "file" else path.parent
    target.chmod(target.stat().st_mode | 0o022)
    run_ok(ws, cache, warm=False)


def test_the_constants_a_warm_start_repeats_are_the_ones_they_twin() -> None:
    """dstream/warm runs before the layers that define these are imported."""
    from dstream.protocol import frames
    from dstream.warm import child

    assert child.ENV_COMMIT_FD == frames.ENV_COMMIT_FD


# An input whose handshake comes after the seconds in `delay` (none at first).
SLOW_INPUT = r"""
read -r command
sleep "$(cat delay 2>/dev/null || echo 0)"
printf '%s\n' '{"status":"ready","protocol":1}'
printf '{"data":1}\n'
"""


def test_a_stop_while_a_warm_input_starts_ends_within_stop_grace(
    ws: Workspace, cache: Path
) -> None:
    """The runtime waited for what the warm start read of the input's first line, up
    to start_timeout, before it acted on a stop (docs/delivery.md, "Stopping")."""
    from dstream.runtime.stopping import STOP_MARGIN

    ws.script("input.sh", SLOW_INPUT)
    ws.script("output.sh", 'read -r command\necho \'{"status":"ready"}\'\ncat >/dev/null\n')
    ws.task(
        "./input.sh", "./output.sh", state=True, settings='stop_grace = "1s"\nstart_timeout = "2m"'
    )
    run_ok(ws, cache, warm=False)
    (ws.root / "delay").write_text("60")
    full = {**ws.env, "DSTREAM_CACHE_DIR": str(cache), "DSTREAM_LOG_LEVEL": "debug"}
    with open(ws.root / "stderr", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", ENTRY, "run", "-q"], cwd=ws.root, env=environ(full),
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
        try:
            wait_until("the runtime to take over", lambda: WARM in ws.read_text("stderr"))
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            took = time.monotonic() - signalled
        finally:
            if proc.poll() is None:
                proc.kill()
    text = ws.read_text("stderr")
    assert WARM in text, text
    assert proc.returncode == 143, text
    assert took <= 1 + STOP_MARGIN, f"ended {took:.2f}s after SIGTERM\n{text}"


# An output that acknowledges as SHELL_OUTPUT does while the file `mode` says "p1", and
# otherwise writes nothing on stdout and appends every line it reads to out.jsonl, as an
# original output writes every message to its sink (the same file, so the same
# executable for the snapshot: a wrapper script that runs another program now).
SWITCHING_OUTPUT = r"""
read -r command
if [ "$(cat mode)" != p1 ]; then cat >>out.jsonl; exit; fi
echo '{"status":"ready","protocol":1}'
while IFS= read -r line; do
  case "$line" in
    '{"checkpoint"'*) printf '%s\n' "$line" ;;
    *) printf '%s\n' "$line" >>out.jsonl ;;
  esac
done
"""


def test_a_warm_start_sends_no_checkpoint_before_the_output_answers(
    ws: Workspace, cache: Path
) -> None:
    """The snapshot says the output shook hands with protocol 1; in this run it writes
    nothing. The warm pump began at the input's handshake and gave it the checkpoint
    frame, which it wrote to its sink as a message. The pump begins only once the
    output's own first line is the one the snapshot recorded too; otherwise the run
    withholds checkpoint frames until the output answers, as a run that is not warm."""
    ws.script("input.sh", INPUT)
    ws.script("output.sh", SWITCHING_OUTPUT)
    ws.task("./input.sh", "./output.sh", state=True, settings='start_timeout = "3s"')
    (ws.root / "mode").write_text("p1\n")
    run_ok(ws, cache, warm=False)
    (ws.root / "mode").write_text("none\n")
    done = run_ok(ws, cache, warm=True)
    assert ws.json_lines("out.jsonl") == [{"data": 1}, {"data": 2}], done.stderr
    assert "answered with a handshake in an earlier run, but wrote nothing within 3 s" in (
        done.stderr
    )


def test_a_warm_start_gives_an_output_of_the_original_sdk_no_checkpoint(
    ws: Workspace, cache: Path
) -> None:
    """The original .NET SDK's output answers a bare ready line and takes every line it
    reads for a message. The warm pump began forwarding checkpoint frames, and only the
    runtime, once it had read that line, withheld them: the first ones reached it."""
    ws.script("input.sh", INPUT)
    ws.script("output.sh", 'read -r command\necho \'{"status":"ready"}\'\ncat >>out.jsonl\n')
    ws.task("./input.sh", "./output.sh", state=True)
    run_ok(ws, cache, warm=False)
    done = run_ok(ws, cache, warm=True)
    assert ws.json_lines("out.jsonl") == [{"data": 1}, {"data": 2}], done.stderr
    assert 'does not acknowledge checkpoints (its handshake has no "protocol")' in done.stderr
