"""`dstream run` end to end with real provider processes: SDK providers, providers
written without the SDK, legacy providers, and every way a run can go wrong."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import orjson
import pytest

from tests.providers import ECHO_OUTPUT, SHELL_OUTPUT
from tests.workspace import Workspace

SHELL_INPUT = """
read -r command
echo '{"status":"ready","protocol":1}'
i=1
while [ $i -le 5 ]; do
  printf '{"data":{"n":%d},"metadata":{"TableName":"t%d"}}\\n' $i $((i % 2))
  i=$((i + 1))
done
"""


def test_sdk_counter_to_file(ws: Workspace) -> None:
    ws.config(
        """
        state { path = "state" }
        task "count" {
          input  {
            provider_path = "dstream-counter"
            config {
              interval = 0
              max_count = 250
              checkpoint_every = 100
            }
          }
          output {
            provider_path = "dstream-file"
            config { path = "out.jsonl" }
          }
        }
        """
    )
    code, doc, err = ws.run_json("run", "count")
    assert code == 0, err
    rows = ws.json_lines("out.jsonl")
    assert [r["data"]["value"] for r in rows] == list(range(1, 251))
    summary = doc["tasks"][0]
    assert summary["outcome"] == "completed"
    assert summary["counters"]["data_frames"] == 250
    assert summary["checkpoints_acknowledged"] >= 1
    assert summary["last_checkpoint"] == {"seq": 250}


def test_shell_input_and_awk_output_without_sdk(ws: Workspace) -> None:
    ws.script("input.sh", SHELL_INPUT)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./input.sh", "./output.sh", name="plain", output_env={"OUT": "got.jsonl"})
    code, doc, err = ws.run_json("run", "plain")
    assert code == 0, err
    assert [r["data"]["n"] for r in ws.json_lines("got.jsonl")] == [1, 2, 3, 4, 5]
    assert doc["tasks"][0]["counters"]["tables"] == {"t0": 2, "t1": 3}


def test_legacy_input_without_handshake_first_line_is_data(ws: Workspace) -> None:
    ws.script(
        "legacy.sh",
        """
        read -r config
        echo '{"data":{"n":1},"metadata":{}}'
        echo '{"data":{"n":2},"metadata":{}}'
        """,
    )
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./legacy.sh", "./output.sh", name="legacy")
    done = ws.run("run", "legacy")
    assert done.returncode == 0, done.stderr
    assert [r["data"]["n"] for r in ws.json_lines("out.jsonl")] == [1, 2]


def test_legacy_output_that_prints_lines_shows_them(ws: Workspace) -> None:
    ws.script("input.sh", SHELL_INPUT)
    ws.script("echo-out.sh", ECHO_OUTPUT)
    ws.task("./input.sh", "./echo-out.sh")
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    shown = [orjson.loads(x) for x in done.stdout.splitlines()]
    assert [x["data"]["n"] for x in shown] == [1, 2, 3, 4, 5]


def test_handshake_error_quotes_message_and_stderr_tail(ws: Workspace) -> None:
    ws.script(
        "bad.sh",
        """
        read -r command
        echo "connecting to db.example:5432" >&2
        echo "password authentication failed" >&2
        echo '{"status":"error","message":"cannot connect: bad password"}'
        exit 1
        """,
    )
    ws.shell_output_task("./bad.sh")
    done = ws.run("run", "t")
    err = done.stderr
    assert done.returncode == 1
    assert "input './bad.sh' refused to start: cannot connect: bad password" in err
    assert "| password authentication failed" in err


def test_a_ready_line_whose_features_is_no_list_names_its_json_type(ws: Workspace) -> None:
    """JSON's name for the value, as the provider wrote it: not Python's ("a str")."""
    ws.script(
        "feat.sh",
        """
        read -r command
        echo '{"status":"ready","protocol":1,"features":"checkpoints"}'
        """,
    )
    ws.shell_output_task("./feat.sh")
    done = ws.run("run", "t")
    assert done.returncode == 1, done.stderr
    assert 'sent a ready line whose "features" is a string, not a list' in done.stderr


def test_a_refusal_whose_message_is_no_string_is_quoted_as_json(ws: Workspace) -> None:
    """It said `refused to start: {'a': 1}`: Python's repr of what the provider wrote."""
    ws.script(
        "refuse.sh",
        """
        read -r command
        echo '{"status":"error","message":{"a":1,"ok":true}}'
        exit 1
        """,
    )
    ws.shell_output_task("./refuse.sh")
    done = ws.run("run", "t")
    assert done.returncode == 1, done.stderr
    assert """input './refuse.sh' refused to start: {"a":1,"ok":true}""" in done.stderr


def test_handshake_timeout_names_provider_and_quotes_stderr(ws: Workspace) -> None:
    ws.script("slow.sh", 'read -r command\necho "still warming up" >&2\nexec sleep 30\n')
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./slow.sh", "./output.sh", settings='start_timeout = "1s"')
    done = ws.run("run", "t", timeout=30)
    err = done.stderr
    assert done.returncode == 1
    assert "input './slow.sh' did not answer within 1 s of start" in err
    assert "| still warming up" in err
    assert "start_timeout" in err


BAD_FRAMES_INPUT = r"""
read -r command
echo '{"status":"ready"}'
echo '{"data":1}'
echo 'not json at all'
echo '[1,2,3]'
printf '{"data":"%s"}\n' "$(head -c 3000 /dev/zero | tr '\0' 'x')"
echo '{"data":2}'
"""


def _bad_frames_task(ws: Workspace, policy: str) -> None:
    ws.script("bad-frames.sh", BAD_FRAMES_INPUT)
    ws.script("output.sh", SHELL_OUTPUT)
    # (a dead-letter file is for the dead_letter policy only: config/tasks.py)
    dead = 'dead_letter_path = "dead/t.jsonl"' if policy == "dead_letter" else ""
    ws.config(
        f"""
        task "t" {{
          input  {{ provider_path = "./bad-frames.sh" }}
          output {{ provider_path = "./output.sh" }}
          max_frame_size   = "1KiB"
          invalid_frames   = "{policy}"
          {dead}
        }}
        """
    )


def test_invalid_frames_fail_policy_stops_with_offset(ws: Workspace) -> None:
    _bad_frames_task(ws, "fail")
    done = ws.run("run", "t")
    err = done.stderr
    assert done.returncode == 1, err
    # The handshake line is 19 bytes, '{"data":1}\n' 11 more.
    assert "invalid frame from input './bad-frames.sh' at offset 30" in err
    assert "not json at all" in err
    assert "invalid_frames" in err  # the hint says how to route them aside
    assert "max_frame_size" not in err  # a frame that is no JSON is not one too long
    assert [r["data"] for r in ws.json_lines("out.jsonl")] == [1]


def test_invalid_frames_skip_policy_counts(ws: Workspace) -> None:
    _bad_frames_task(ws, "skip")
    code, doc, err = ws.run_json("run", "t")
    assert code == 0, err
    assert [r["data"] for r in ws.json_lines("out.jsonl")] == [1, 2]
    counters = doc["tasks"][0]["counters"]
    assert counters["invalid_frames"] == 3
    assert counters["skipped"] == 3


def test_invalid_frames_dead_letter_policy_keeps_raw_and_reason(ws: Workspace) -> None:
    _bad_frames_task(ws, "dead_letter")
    code, doc, err = ws.run_json("run", "t")
    assert code == 0, err
    assert [r["data"] for r in ws.json_lines("out.jsonl")] == [1, 2]
    dead = ws.json_lines("dead/t.jsonl")
    assert len(dead) == 3
    assert dead[0]["raw"] == "not json at all"
    assert dead[0]["offset"] == 30
    assert "JSON" in dead[0]["reason"]
    assert "array" in dead[1]["reason"] and dead[1]["raw"] == "[1,2,3]"
    assert "max_frame_size" in dead[2]["reason"]
    assert doc["tasks"][0]["counters"]["dead_lettered"] == 3


def test_a_checkpoint_key_written_with_escapes_is_an_invalid_frame(ws: Workspace) -> None:
    """`{"\\u0063heckpoint":1}` is a checkpoint to JSON, but outputs find checkpoints by
    their plain key (dstream-file wrote it as data, and the run then failed blaming the
    output for an acknowledgement it never knew it owed): refused where it is read."""
    ws.script(
        "escaped.sh",
        r"""
        read -r command
        echo '{"status":"ready","protocol":1}'
        echo '{"data":1}'
        echo '{"\u0063heckpoint":1}'
        echo '{"data":2}'
        """,
    )
    ws.config(
        """
        task "t" {
          input  { provider_path = "./escaped.sh" }
          output {
            provider_path = "dstream-file"
            config { path = "out.jsonl" }
          }
        }
        """
    )
    done = ws.run("run", "t")
    assert done.returncode == 1, done.stderr
    assert "invalid frame from input './escaped.sh' at offset 43" in done.stderr
    assert 'writes its "checkpoint" key with escapes' in done.stderr
    assert "heckpoint" not in ws.read_text("out.jsonl")


def test_output_crash_mid_stream_ends_promptly_naming_output(ws: Workspace) -> None:
    ws.script(
        "crash-out.sh",
        """
        read -r command
        echo '{"status":"ready"}'
        head -n 100 > /dev/null
        echo "disk full" >&2
        exit 3
        """,
    )
    # An input still blocked writing to the pump would be killed only after stop_grace,
    # far beyond the timeout below: the run must end without waiting.
    ws.counter_task(
        "t",
        "./crash-out.sh",
        count=0,
        checkpoint_every=1000,
        state="",
        settings='stop_grace = "60s"',
    )
    done = ws.run("run", "t", timeout=30)
    err = done.stderr
    assert done.returncode == 1, err
    assert "output './crash-out.sh' exited with code 3" in err
    assert "| disk full" in err
    # The counter was told to stop and exited itself; it is not blamed for the failure.
    assert "input 'dstream-counter' exited" not in err


def test_input_crash_delivers_what_it_wrote_and_fails(ws: Workspace) -> None:
    ws.script(
        "crash-in.sh",
        """
        read -r command
        echo '{"status":"ready"}'
        echo '{"data":1}'
        echo '{"data":2}'
        echo '{"data":3}'
        echo "lost connection" >&2
        exit 5
        """,
    )
    ws.shell_output_task("./crash-in.sh")
    done = ws.run("run", "t")
    err = done.stderr
    assert done.returncode == 1, err
    assert "input './crash-in.sh' exited with code 5" in err
    assert "| lost connection" in err
    assert [r["data"] for r in ws.json_lines("out.jsonl")] == [1, 2, 3]


def _counter_into_file(ws: Workspace, interval: int, lines: int) -> subprocess.Popen[bytes]:
    """`dstream run t --json` of a never-ending counter into out.jsonl (a checkpoint
    per envelope), once `lines` envelopes are in the file."""
    ws.counter_task(
        "t", "dstream-file", 'path = "out.jsonl"', count=0, checkpoint_every=1, interval=interval
    )
    proc = ws.popen("run", "t", "--json")
    deadline = time.monotonic() + 20
    while len(ws.json_lines("out.jsonl")) < lines:
        assert time.monotonic() < deadline, f"fewer than {lines} lines in 20 s"
        time.sleep(0.05)
    return proc


def test_sigint_drains_every_frame_the_input_wrote(ws: Workspace) -> None:
    proc = _counter_into_file(ws, interval=1, lines=100)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    summary = orjson.loads(out)["tasks"][0]
    seqs = [r["data"]["value"] for r in ws.json_lines("out.jsonl")]
    assert len(seqs) >= 100
    assert seqs == list(range(1, len(seqs) + 1))  # in order, nothing missing
    assert summary["counters"]["data_frames"] == len(seqs)  # all the pump saw arrived
    assert summary["outcome"] == "interrupted"


def test_a_task_already_running_is_not_started_twice(ws: Workspace) -> None:
    """Terraform's state lock: a second `dstream run` of a running task, or a `state
    reset` under it, is refused before anything starts; once the run ends, both work."""
    first = _counter_into_file(ws, interval=20, lines=1)
    second = ws.run("run", "t", timeout=30)
    assert second.returncode == 1, second.stderr
    assert f"task 't' is already running (pid {first.pid} on " in second.stderr
    reset = ws.run("state", "reset", "t", timeout=30)
    assert reset.returncode == 1 and "already running" in reset.stderr, reset.stderr
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=30)
    assert first.returncode == 130, err
    written = len(ws.json_lines("out.jsonl"))
    assert orjson.loads(out)["tasks"][0]["counters"]["data_frames"] == written
    reset = ws.run("state", "reset", "t", timeout=30)
    assert reset.returncode == 0, reset.stderr


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_slow_output_keeps_dstream_memory_flat(ws: Workspace) -> None:
    # The output reads nothing for 4 s while the input could produce millions of frames.
    ws.script(
        "stalled.sh",
        """
        read -r command
        echo '{"status":"ready"}'
        sleep 4
        exec cat > /dev/null
        """,
    )
    ws.counter_task("t", "./stalled.sh", count=300000, checkpoint_every=1000, state="")
    proc = ws.popen("run", "t", "--json")
    time.sleep(1.0)
    samples = []
    while proc.poll() is None:
        samples.append(_rss_kib(proc.pid))
        time.sleep(0.2)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert orjson.loads(out)["tasks"][0]["counters"]["data_frames"] == 300000
    samples = [s for s in samples if s]
    assert len(samples) >= 10
    # Everything the stalled output did not read waits in the pipes, not in dstream.
    assert max(samples) - samples[0] < 20 * 1024, samples


def test_demo_runs_without_a_config_file(ws: Workspace) -> None:
    done = ws.run("run", "demo", timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 10
    # Its state is a temporary directory: nothing it says is stored outlives it.
    state = [line.strip() for line in done.stderr.splitlines() if "state " in line]
    assert state == [
        "state    1 checkpoint(s) acknowledged, not kept: the demo's state is temporary, "
        "so every run of it starts from the beginning"
    ], done.stderr
    again = ws.run("run", "demo", "--json", timeout=60)
    [task] = orjson.loads(again.stdout)["tasks"]
    assert task["resumable"] is False and task["last_checkpoint"] == {"seq": 10}, task


def test_unknown_task_is_a_usage_error(ws: Workspace) -> None:
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./output.sh", "./output.sh", name="a")
    done = ws.run("run", "b")
    assert done.returncode == 2
    assert "no task named 'b'" in done.stderr


def test_fast_output_acknowledging_every_checkpoint_never_outruns_the_pump(
    ws: Workspace,
) -> None:
    """dstream-null acknowledges a checkpoint the moment it reads it, often before the
    pump's write of the same batch has returned; every ack must still match."""
    ws.config(
        """
        state { path = "state" }
        task "t" {
          input  {
            provider_path = "dstream-counter"
            config {
              interval = 0
              max_count = 200000
              checkpoint_every = 100
            }
          }
          output { provider_path = "dstream-null" }
        }
        """
    )
    code, doc, err = ws.run_json("run", "t")
    assert code == 0, err
    summary = doc["tasks"][0]
    assert summary["counters"]["checkpoint_frames"] == 2000
    assert summary["last_checkpoint"] == {"seq": 200000}


def test_restart_policy_survives_a_transient_input_crash(ws: Workspace) -> None:
    # The first attempt crashes after two frames; the second resumes and completes.
    ws.script(
        "flaky.sh",
        """
        read -r command
        echo '{"status":"ready"}'
        if [ ! -e crashed-once ]; then
          : > crashed-once
          echo '{"data":1}'
          echo '{"checkpoint":1}'
          echo '{"data":2}'
          echo "connection reset" >&2
          exit 7
        fi
        echo '{"data":3}'
        """,
    )
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./flaky.sh", "./output.sh", state=True, restart=(2, "100ms"))
    code, doc, err = ws.run_json("run", "t")
    assert code == 0, err
    assert "restarting in 0.1 s (2 attempt(s) left)" in err
    summary = doc["tasks"][0]
    assert summary["attempts"] == 2
    assert summary["counters"]["data_frames"] == 3  # both attempts counted
    assert [r["data"] for r in ws.json_lines("out.jsonl")] == [1, 2, 3]


def test_a_runs_duration_counts_its_restart_backoff(ws: Workspace) -> None:
    """Three attempts with 0.5 s, then 1 s of backoff between them: the run took 1.5 s
    at least, and its summary says so ("failed after 463 ms" was the attempts alone,
    beside a history row of 3.5 s)."""
    ws.script("failing.sh", 'read -r command\necho \'{"status":"ready"}\'\nexit 5\n')
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./failing.sh", "./output.sh", state=True, restart=(2, "500ms"))
    code, doc, err = ws.run_json("run", "t")
    assert code == 1, err
    summary = doc["tasks"][0]
    assert summary["attempts"] == 3, summary
    assert summary["duration_seconds"] >= 1.5, summary
    [run] = orjson.loads(ws.run("runs", "t", "--json").stdout)["runs"]
    recorded = run["ended_at"] - run["started_at"]
    assert summary["duration_seconds"] <= recorded + 0.05, (summary, run)


def _children(pid: int) -> list[int]:
    import glob

    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.split("/")[2]))
    return found


def test_sigkill_of_dstream_leaves_no_orphan_providers(ws: Workspace) -> None:
    ws.script("idle.sh", 'read -r command\necho \'{"status":"ready"}\'\nexec sleep 300\n')
    ws.shell_output_task("./idle.sh")
    proc = ws.popen("run", "t")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(_children(proc.pid)) < 2:
        time.sleep(0.05)
    providers = _children(proc.pid)
    assert len(providers) == 2
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    alive = providers
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if os.path.exists(f"/proc/{pid}")]
        time.sleep(0.05)
    assert not alive, "providers outlived a SIGKILLed dstream"


def test_ack_of_a_checkpoint_never_sent_is_a_protocol_error(ws: Workspace) -> None:
    ws.script(
        "input.sh",
        """
        read -r command
        echo '{"status":"ready"}'
        echo '{"data":1}'
        echo '{"checkpoint":{"n":1}}'
        echo '{"data":2}'
        echo '{"checkpoint":{"n":2}}'
        """,
    )
    # Acknowledges 2 first, then 1: the second echo is older than one already seen.
    ws.script(
        "liar.sh",
        """
        read -r command
        echo '{"status":"ready","protocol":1}'
        while IFS= read -r line; do
          case "$line" in
            '{"checkpoint":{"n":2}}') echo "$line"; echo '{"checkpoint":{"n":1}}' ;;
          esac
        done
        """,
    )
    ws.task("./input.sh", "./liar.sh", state=True)
    done = ws.run("run", "t")
    err = done.stderr
    assert done.returncode == 1, err
    assert (
        "output './liar.sh' acknowledged checkpoint {\"n\":1} which dstream never sent to it, "
        "or which is older than one it already acknowledged" in err
    )
    shown = ws.run("state", "show", "t", "--json")
    assert orjson.loads(shown.stdout)["checkpoint"] == {"n": 2}  # the bad echo was not stored


@pytest.mark.parametrize("interval, stores", [('"1h"', 2), ("0", 5)])
def test_commit_interval_bounds_how_often_the_state_is_written(
    ws: Workspace, interval: str, stores: int
) -> None:
    """Five checkpoints, acknowledged 0.2 s apart: with commit_interval 0 each is stored
    (each store bumps the record's sequence); with an hour only the first, then the last
    when the stream ends (not an hour later). Every acknowledgement is counted."""
    ws.script(
        "input.sh",
        """
        read -r command
        echo '{"status":"ready","protocol":1,"features":["checkpoints"]}'
        for n in 1 2 3 4 5; do
          echo "{\\"data\\":$n}"
          echo "{\\"checkpoint\\":$n}"
          sleep 0.2
        done
        """,
    )
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./input.sh", "./output.sh", state=True, settings=f"commit_interval = {interval}")
    code, doc, err = ws.run_json("run", "t", timeout=60)
    assert code == 0, err
    summary = doc["tasks"][0]
    assert summary["last_checkpoint"] == 5
    assert summary["checkpoints_acknowledged"] == 5
    record = orjson.loads((ws.root / "state" / "t.json").read_bytes())
    assert (record["checkpoint"], record["sequence"]) == (5, stores), record


def test_commit_notices_reach_an_input_that_asked_for_them(ws: Workspace) -> None:
    # The input emits two checkpoints and records every notice from its notice channel.
    ws.script(
        "input.sh",
        """
        read -r command
        echo '{"status":"ready","protocol":1,"features":["commit-notices"]}'
        echo '{"data":1}'
        echo '{"checkpoint":{"n":1}}'
        echo '{"data":2}'
        echo '{"checkpoint":{"n":2}}'
        while IFS= read -r notice <&"$DSTREAM_COMMIT_FD"; do
          echo "$notice" >> notices.jsonl
          case "$notice" in *'"n":2'*) exit 0 ;; esac
        done
        """,
        interpreter="/bin/bash",  # dash redirects only descriptors 0-9
    )
    ws.shell_output_task("./input.sh", state=True)
    code, doc, err = ws.run_json("run", "t", timeout=30)
    assert code == 0, err
    notices = ws.json_lines("notices.jsonl")
    assert notices[-1] == {"committed": {"n": 2}}  # coalesced: the newest always arrives
    assert all(set(n) == {"committed"} for n in notices)
    assert doc["tasks"][0]["last_checkpoint"] == {"n": 2}


def test_a_misspelt_builtin_provider_gets_a_suggestion(ws: Workspace) -> None:
    ws.config(
        """
        task "t" {
          input  { provider_path = "dstream-countr" }
          output { provider_path = "dstream-null" }
        }
        """
    )
    done = ws.run("run", "t")
    err = done.stderr
    assert done.returncode == 2, err
    assert "dstream.hcl:3:3: input provider 'dstream-countr' was not found on PATH" in err
    assert "did you mean 'dstream-counter'?" in err


def test_a_provider_on_path_this_user_may_not_execute_is_named(ws: Workspace) -> None:
    """The file is there but not executable: say so, never "did you mean" the same name
    (which CI printed when PATH ran through a directory only root could traverse)."""
    bindir = ws.root / "bin"
    bindir.mkdir()
    (bindir / "my-source").write_text("#!/bin/sh\n")
    ws.config(
        """
        task "t" {
          input  { provider_path = "my-source" }
          output { provider_path = "dstream-null" }
        }
        """
    )
    done = ws.run("run", "t", env={"PATH": f"{bindir}:{os.environ['PATH']}"})
    err = done.stderr
    assert done.returncode == 2, err
    assert f"provider 'my-source' was found at {bindir / 'my-source'}, but this user" in err
    assert "did you mean" not in err


# Fails three times, each after streaming ~0.6 s; the fourth run completes.
UNSTEADY_INPUT = """
read -r command
echo '{"status":"ready"}'
n=$(cat runs 2>/dev/null || echo 0); n=$((n + 1)); echo $n > runs
echo "{\\"data\\":$n}"
if [ $n -le 3 ]; then sleep 0.6; echo "connection reset" >&2; exit 7; fi
"""


@pytest.mark.parametrize(("reset_after", "completes"), [("300ms", True), ("10m", False)])
def test_restart_attempts_start_again_after_an_attempt_ran_healthy(
    ws: Workspace, reset_after: str, completes: bool
) -> None:
    """A task that runs for days with `attempts = 1` died at its second transient
    failure, however far apart: an attempt that ran `reset_after` before it failed was
    healthy, and the count (and the backoff) start again, as Kubernetes' restarts do."""
    ws.script("unsteady.sh", UNSTEADY_INPUT)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.config(
        f"""
        task "t" {{
          input  {{ provider_path = "./unsteady.sh" }}
          output {{ provider_path = "./output.sh" }}
          restart {{
            attempts    = 1
            backoff     = "10ms"
            reset_after = "{reset_after}"
          }}
        }}
        """
    )
    code, doc, err = ws.run_json("run", "t")
    summary = doc["tasks"][0]
    if completes:
        assert code == 0, err
        assert summary["attempts"] == 4
        assert err.count("restarting in 0.01 s (1 attempt(s) left)") == 3, err
    else:
        assert code == 1, err
        assert summary["attempts"] == 2
