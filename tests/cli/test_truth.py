"""Every line `dstream` prints is true and agrees with its exit code (issue 19, points
1, 2, 3 and 8): no "No changes" after a failure, a cancelled destroy is not a success,
values are JSON and not Python reprs, durations are readable, `--json` keeps the
output's lines, signals give 130/143 in every path, one failure is one error block."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from dstream.runtime.signals import ECHO_WINDOW
from tests.cli import scenarios
from tests.workspace import Workspace

REPR = re.compile(r"\{'|': |\bNone\b|\bTrue\b|\bFalse\b")


def test_plan_after_a_provider_failure_does_not_say_no_changes(ws: Workspace) -> None:
    scenarios.lifecycle(ws)
    done = ws.run("plan", "t", env={"FAIL": "1"})
    assert done.returncode == 1, done.stderr
    assert "No changes" not in done.stdout + done.stderr
    assert "Plan failed in input './lc.py', output './lc.py' (see the errors below)." in done.stdout
    assert "✅" not in done.stdout + done.stderr
    assert done.stderr.count("error:") == 2  # one block per failed provider (input, output)
    assert done.stderr.count("cannot reach the broker") == 4  # each: its log line + its tail


def test_a_plan_a_provider_answered_failed_does_not_say_it_could_not_answer(
    ws: Workspace,
) -> None:
    scenarios.lifecycle(ws)
    done = ws.run("plan", "t", env={"ANSWER_FAILED": "1"})
    assert done.returncode == 1, done.stderr
    assert "could not answer" not in done.stdout, done.stdout
    assert (
        "Plan failed in input './lc.py', output './lc.py' (see the errors below). "
        "Nothing was changed." in done.stdout
    ), done.stdout
    assert "the queue quota is exceeded" in done.stderr, done.stderr


def test_status_and_plan_with_no_lifecycle_say_so(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("status", "t")
    assert done.returncode == 0, done.stderr
    assert "All resources exist" not in done.stdout  # there are none to exist
    assert "Neither provider manages infrastructure" in done.stdout
    assert "state: file " in done.stdout  # where the state lives
    plan = ws.run("plan", "t")
    assert "No changes. Neither provider manages infrastructure." in plan.stdout


def test_status_shows_the_stored_checkpoint_as_json(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    assert ws.run("run", "t").returncode == 0
    done = ws.run("status", "t")
    assert 'checkpoint: {"seq":10}' in done.stdout, done.stdout
    assert f"state: file {ws.root / 'state'}" in done.stdout


def test_plan_detailed_exitcode(ws: Workspace) -> None:
    scenarios.lifecycle(ws)
    assert ws.run("plan", "t").returncode == 0
    assert ws.run("plan", "t", "-detailed-exitcode").returncode == 2
    assert ws.run("plan", "t", "--detailed-exitcode", env={"NO_CHANGES": "1"}).returncode == 0
    failed = ws.run("plan", "t", "--detailed-exitcode", env={"FAIL": "1"})
    assert failed.returncode == 1


def test_run_summary_has_no_repr_and_a_readable_duration(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    assert 'stored {"seq":10}' in done.stderr
    assert not REPR.search(done.stderr), done.stderr
    assert "0.00 s" not in done.stderr
    assert re.search(r"completed after (\d+ ms|<1 ms|\d+\.\d s)\n", done.stderr), done.stderr
    assert done.stderr.rstrip().endswith('✅ Task "t" executed successfully')


def test_run_json_keeps_the_output_lines(ws: Workspace) -> None:
    ws.counter_task("t", "dstream-console", count=3, checkpoint_every=0)
    done = ws.run("run", "t", "--json")
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout_bytes)  # stdout: the one document
    assert doc["output_lines"] == 3 and doc["exit_code"] == 0
    assert done.stderr.count('"value":') == 3, done.stderr  # the console's lines, aside


def test_a_failed_run_ends_with_its_error_not_a_success_line(ws: Workspace) -> None:
    scenarios.failing_input(ws)
    done = ws.run("run", "t")
    assert done.returncode == 1
    assert "✅" not in done.stderr
    assert done.stderr.count("error:") == 1
    assert "task t: failed before streaming" in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].startswith("  hint: ")


def test_run_json_has_the_exit_code_of_an_input_that_ended_before_its_handshake(
    ws: Workspace,
) -> None:
    """Its error says `exited with code 3`: the document's exit_codes say it too (they
    were empty when the run failed before the stream)."""
    scenarios.failing_input(ws)
    code, doc, err = ws.run_json("run", "t")
    assert code == 1, err
    (task,) = doc["tasks"]
    assert "exited with code 3 before its handshake" in task["error"]["message"]
    assert task["exit_codes"]["input"] == 3, task
    assert task["exit_signals"]["input"] is None, task


def test_restarts_do_not_repeat_the_error_block(ws: Workspace) -> None:
    """The restart warnings are one line each; the stderr tail is quoted once, at the end."""
    scenarios.failing_input(ws, restart="restart {\n attempts = 2\n backoff = 0.01\n}")
    done = ws.run("run", "t")
    assert done.returncode == 1
    assert done.stderr.count("restarting in") == 2
    assert done.stderr.count("last stderr lines:") == 1, done.stderr
    assert done.stderr.count("error:") == 1
    # 3 attempts logged their 2 lines each, and the one error block quotes them once
    assert done.stderr.count("password authentication failed") == 3 + 1


def _stderr_file(ws: Workspace) -> Path:
    return ws.root / "stderr.txt"


def _wait_in(path: Path, text: str, proc: subprocess.Popen[bytes], times: int = 1) -> None:
    deadline = time.monotonic() + 30
    while (path.read_text() if path.exists() else "").count(text) < times:
        assert proc.poll() is None, path.read_text()
        assert time.monotonic() < deadline, f"{text!r} not seen in 30 s"
        time.sleep(0.05)


def test_sigterm_exits_143(ws: Workspace) -> None:
    scenarios.counter_file(ws, count=0, interval=5)
    proc = ws.popen("run", "t")
    scenarios.wait_for(proc, ws, "out.jsonl")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert b"interrupted by SIGTERM" in err
    assert err.rstrip().splitlines()[-1].startswith(b"stopped by SIGTERM")


def test_the_resume_hint_repeats_the_options_that_chose_the_configuration(
    ws: Workspace,
) -> None:
    """`-c` and `--state-dir` decide what resumes, so the hint repeats them; variables
    are only named (a value may be a secret)."""
    scenarios.counter_file(ws, count=0, interval=5)
    (ws.root / "etl").mkdir()
    config = (ws.root / "dstream.hcl").read_text() + 'variable "a" {\n  sensitive = true\n}\n'
    (ws.root / "etl" / "x.hcl").write_text(config)
    (ws.root / "dstream.hcl").unlink()
    proc = ws.popen("run", "t", "-c", "etl/x.hcl", "--state-dir", "st", "--var", "a=s3cret")
    scenarios.wait_for(proc, ws, "etl/out.jsonl")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    last = err.decode().rstrip().splitlines()[-1]
    assert last == (
        "stopped by SIGTERM: `dstream run -c etl/x.hcl --state-dir st t` with the same "
        "--var/--var-file resumes from the last stored checkpoint"
    ), last
    assert b"s3cret" not in err


def test_a_forced_stop_exits_130(ws: Workspace) -> None:
    """The output ignores SIGTERM and the grace is long: the second Ctrl-C kills it."""
    ws.python_script(
        "stubborn.py",
        """
        import signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.stdin.readline()
        print('{"status":"ready"}', flush=True)
        with open("out.jsonl", "a") as out:
            for line in sys.stdin:
                out.write(line)
                out.flush()
        time.sleep(120)
        """,
    )
    ws.counter_task("t", "./stubborn.py", count=0, checkpoint_every=0, interval=5,
                    settings="stop_grace = 120")  # fmt: skip
    with _stderr_file(ws).open("wb") as err:
        proc = ws.popen("run", "t", stderr=err)
        scenarios.wait_for(proc, ws, "out.jsonl")
        proc.send_signal(signal.SIGINT)
        _wait_in(_stderr_file(ws), "stopping:", proc)
        time.sleep(ECHO_WINDOW)  # a second Ctrl-C, not the first one's echo
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    text = _stderr_file(ws).read_text()
    assert proc.returncode == 130, text
    assert "interrupted by SIGINT" in text and "error:" not in text


def test_a_stop_while_waiting_to_restart_exits_130(ws: Workspace) -> None:
    scenarios.failing_input(ws, restart="restart {\n attempts = 3\n backoff = 60\n}")
    with _stderr_file(ws).open("wb") as err:
        proc = ws.popen("run", "t", stderr=err)
        _wait_in(_stderr_file(ws), "restarting in 60 s", proc)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    text = _stderr_file(ws).read_text()
    assert proc.returncode == 130, text
    assert "task t: interrupted by SIGINT" in text
    assert "the last attempt ended with: input './fail.sh' exited with code 3" in text


def test_cancelled_destroy_on_a_terminal_exits_1(ws: Workspace) -> None:
    scenarios.lifecycle(ws)
    done = ws.on_a_terminal("destroy", "t", answer=b"no")
    assert done.returncode == 1, done.screen
    assert done.screen.rstrip().endswith("Destroy cancelled: nothing was removed.")
    assert "✅" not in done.screen


def test_destroy_says_whether_the_checkpoint_is_kept_or_dropped(ws: Workspace) -> None:
    scenarios.lifecycle(ws)
    (ws.root / "state").mkdir()
    assert ws.run("state", "set", "t", '{"seq": 3}').returncode == 0
    kept = ws.run("destroy", "t", "--auto-approve")
    assert kept.returncode == 0, kept.stderr
    assert 'state of task "t": checkpoint kept in file' in kept.stderr
    assert ws.run("state", "show", "t").returncode == 0
    dropped = ws.run("destroy", "t", "--auto-approve", "--drop-state")
    assert 'state of task "t": checkpoint dropped (--drop-state)' in dropped.stderr
    assert "has no stored checkpoint" in ws.run("state", "show", "t").stderr


def test_one_task_file_needs_no_task_name(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("run")
    assert done.returncode == 0, done.stderr
    assert len(ws.json_lines("out.jsonl")) == 10


TWO_TASKS_ONE_BROKEN = """
state { path = "state" }
task "a" {
  input {
    provider_path = "dstream-counter"
    config { tables = ["{{ env \\"UNSET_VAR_X\\" }}"] }
  }
  output {
    provider_path = "dstream-file"
    config { path = "a.jsonl" }
  }
}
task "b" {
  input  {
    provider_path = "dstream-counter"
    config { max_count = 3 }
  }
  output {
    provider_path = "dstream-file"
    config { path = "b.jsonl" }
  }
}
"""


def test_a_task_its_template_breaks_is_not_dropped_from_all(ws: Workspace) -> None:
    """`run --all` with a task that cannot be evaluated is a configuration error before
    anything starts (as `env("UNSET_VAR_X")` makes it), not `ok: true` for the others;
    and a file of two tasks is not a one-task file. Named alone, the good task runs."""
    ws.config(TWO_TASKS_ONE_BROKEN)
    done = ws.run("run", "--all", "--json")
    assert done.returncode == 2, done.stderr
    assert orjson.loads(done.stdout_bytes)["ok"] is False
    assert "dstream.hcl:6:25: environment variable UNSET_VAR_X is not set" in done.stderr
    assert not (ws.root / "b.jsonl").exists()  # nothing started
    bare = ws.run("run")
    assert bare.returncode == 2
    assert "no task given, and the configuration defines 2 (known: a, b)" in bare.stderr
    assert not (ws.root / "b.jsonl").exists()
    assert ws.run("run", "b").returncode == 0
    assert len(ws.json_lines("b.jsonl")) == 3


def test_list_shows_a_task_its_template_breaks(ws: Workspace) -> None:
    """A task that cannot be evaluated is still one of the configuration's tasks: list
    names it and why it cannot be used, instead of leaving it out."""
    ws.config(TWO_TASKS_ONE_BROKEN)
    done = ws.run("list", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in orjson.loads(done.stdout_bytes)["tasks"]}
    assert set(rows) == {"a", "b"} and rows["b"]["error"] is None
    assert rows["a"]["error"].startswith("environment variable UNSET_VAR_X is not set")
    assert rows["a"]["location"].endswith("dstream.hcl:3:1")  # the task's
    assert rows["a"]["error_location"].endswith("dstream.hcl:6:25")  # the template's
    assert rows["a"]["input"] == {"kind": "path", "source": "dstream-counter"}
    assert rows["b"]["error_location"] is None
    human = ws.run("list").stdout.splitlines()
    assert human[1].split()[:2] == ["a", "(cannot"], human


def test_runs_of_a_task_a_template_now_breaks_are_still_listed(ws: Workspace) -> None:
    ws.config(
        TWO_TASKS_ONE_BROKEN.replace(
            "config { tables", "config {\n max_count = 2\n tables", 1
        ).replace('"] }', '"]\n }', 1)
    )
    assert ws.run("run", "a", env={"UNSET_VAR_X": "t"}).returncode == 0
    for args in (("runs", "--json"), ("runs", "a", "--json")):
        done = ws.run(*args)
        assert done.returncode == 0, done.stderr
        assert [row["task"] for row in orjson.loads(done.stdout_bytes)["runs"]] == ["a"]


def test_an_agent_refuses_a_configuration_with_a_task_it_cannot_evaluate(ws: Workspace) -> None:
    """An agent runs its share of every task, as run --all: one it could not evaluate
    would be nobody's, without a word. Refused before any store is opened."""
    ws.config(
        TWO_TASKS_ONE_BROKEN.replace(
            'state { path = "state" }',
            'state {\n  backend = "postgres"\n  dsn = "postgresql://u@127.0.0.1:1/db"\n}',
        )
    )
    done = ws.run("agent", timeout=60)
    assert done.returncode == 2, done.stderr
    assert "environment variable UNSET_VAR_X is not set" in done.stderr


def test_reset_state_starts_from_the_beginning(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    assert ws.run("run", "t").returncode == 0
    again = ws.run("run", "t", "--full-refresh")
    assert "stored checkpoint forgotten (--reset-state)" in again.stderr
    values = [r["data"]["value"] for r in ws.json_lines("out.jsonl")]
    assert values == list(range(1, 11)) * 2  # the second run started over


def test_global_flags_before_the_command(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    (ws.root / "other.hcl").write_text((ws.root / "dstream.hcl").read_text())
    (ws.root / "dstream.hcl").unlink()
    done = ws.run("-l", "warning", "-c", "other.hcl", "--json", "list")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout_bytes)["tasks"][0]["name"] == "t"


def test_progress_lines_without_a_terminal(ws: Workspace) -> None:
    scenarios.counter_file(ws, count=0, interval=5)
    with _stderr_file(ws).open("wb") as err:
        proc = ws.popen("run", "t", "--progress-interval", "0.2", stderr=err)
        _wait_in(_stderr_file(ws), "running, ", proc)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    lines = [x for x in _stderr_file(ws).read_text().splitlines() if "envelopes/s" in x]
    line = lines[-1]
    # After the Ctrl-C the last one may say what the drain waits for (a loaded machine).
    assert re.match(
        r"dstream: task t: (starting|running|waiting for [^,]+), [\d,]+ envelopes/s, "
        r"[\d,]+ envelopes, [\d.]+ (B|KiB|MiB|GiB), \d+ invalid, "
        r"last checkpoint (\d+s ago|none yet)$",
        line,
    ), line


def _two_counters(ws: Workspace, *, with_b: bool, interval: int) -> None:
    task = """
    task "{name}" {{
      input {{
        provider_path = "dstream-counter"
        config {{
          interval = {interval}
          max_count = 0
        }}
      }}
      output {{
        provider_path = "dstream-file"
        config {{ path = "{name}.jsonl" }}
      }}
    }}
    """
    names = ["a", "b"] if with_b else ["a"]
    ws.config("".join(task.format(name=n, interval=interval) for n in names))


def test_sighup_summary_counts_every_definition_and_names_a_removed_task(ws: Workspace) -> None:
    """docs/operations.md: a changed task restarts with its new definition, a removed one
    is stopped. The summary says so, its totals include the time before the reload, and a
    removed task is not reported as interrupted by the later Ctrl-C."""
    _two_counters(ws, with_b=True, interval=5)
    with _stderr_file(ws).open("wb") as err:
        proc = ws.popen("run", "a", "b", "--progress-interval", "0", stderr=err)
        scenarios.wait_for(proc, ws, "a.jsonl")
        scenarios.wait_for(proc, ws, "b.jsonl")
        _two_counters(ws, with_b=False, interval=6)
        proc.send_signal(signal.SIGHUP)
        _wait_in(_stderr_file(ws), "task b: gone from the configuration", proc)
        _wait_in(_stderr_file(ws), "a/input: counter starting", proc, times=2)  # the new one
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    text = _stderr_file(ws).read_text()
    assert proc.returncode == 130, text
    a_line = next(line for line in text.splitlines() if line.startswith("task a: "))
    assert "interrupted by SIGINT" in a_line and "restarted by 1 reload(s)" in a_line
    assert "task b: removed by a reload (SIGHUP) and stopped after " in text
    frames = re.search(r"task a: .*\n  frames   ([\d,]+) \(([\d,]+) data", text)
    assert frames is not None, text
    assert int(frames.group(2).replace(",", "")) == len(ws.json_lines("a.jsonl"))
    assert text.rstrip().splitlines()[-1].startswith("stopped by SIGINT: `dstream run a` ")


def test_a_refusal_at_the_handshake_is_not_restarted(ws: Workspace) -> None:
    """Issue 19.6: {"status":"error"} is the provider's answer to its config; the restart
    policy would only get the same answer again."""
    ws.script(
        "refuse.sh",
        """
        read -r command || exit 1  # no command line (a describe probe): not a start
        echo started >> starts.txt
        echo '{"status":"error","message":"unknown key \\"tabels\\""}'
        exit 1
        """,
    )
    ws.config(
        """
        task "t" {
          restart {
            attempts = 3
            backoff = 0.01
          }
          input  { provider_path = "./refuse.sh" }
          output { provider_path = "dstream-null" }
        }
        """
    )
    done = ws.run("run", "t")
    assert done.returncode == 1, done.stderr
    assert ws.read_text("starts.txt") == "started\n"
    assert "restarting in" not in done.stderr
    assert "refused to start: unknown key" in done.stderr


ONE_GOOD_ONE_FAILING = """
task "bad" {
  input  { provider_path = "./failing.sh" }
  output {
    provider_path = "dstream-file"
    config { path = "bad.jsonl" }
  }
}
task "good" {
  input {
    provider_path = "dstream-counter"
    config {
      max_count = 3
      interval  = 1
    }
  }
  output {
    provider_path = "dstream-file"
    config { path = "good.jsonl" }
  }
}
"""


def test_the_last_line_of_a_run_of_several_tasks_that_failed_says_so(ws: Workspace) -> None:
    """The failed task's error block comes among the summaries; the last line must
    not be the good task's `frames ...` under an exit code of 1."""
    ws.script("failing.sh", 'read -r command\necho \'{"status":"ready"}\'\nexit 3\n')
    ws.config(ONE_GOOD_ONE_FAILING)
    done = ws.run("run", "--all")
    assert done.returncode == 1, done.stderr
    last = done.stderr.rstrip().splitlines()[-1]
    assert last == "1 of 2 tasks failed: bad (exit code 1); its error is above", done.stderr


@pytest.mark.parametrize("args", [["run"], ["run", "--all"], ["plan", "--all"], ["init", "--all"]])
def test_a_configuration_without_a_task_is_said_to_have_none(
    ws: Workspace, args: list[str]
) -> None:
    """`run --all` of a file that defines no task did nothing, said nothing, exit 0."""
    ws.config("locals {\n  a = 1\n}\n")
    done = ws.run(*args)
    assert done.returncode == 2, done.stderr
    assert "dstream.hcl defines no task" in done.stderr, done.stderr
    assert 'hint: add one: task "NAME"' in done.stderr


def test_a_json_error_document_has_the_exit_code(ws: Workspace) -> None:
    """As `run --json`'s own document: a script reads the code from the document too."""
    ws.config("locals {\n  a = 1\n}\n")
    done = ws.run("run", "--all", "--json")
    assert done.returncode == 2
    doc = orjson.loads(done.stdout_bytes)
    assert (doc["ok"], doc["error"], doc["exit_code"]) == (False, "UsageError", 2), doc


def test_log_level_debug_shows_the_start_and_each_stored_checkpoint(ws: Workspace) -> None:
    """docs/migrating.md: one logger, so `--log-level debug` shows everything: it added
    nothing to a run's lines."""
    scenarios.counter_file(ws)
    done = ws.run("-l", "debug", "run", "t")
    assert done.returncode == 0, done.stderr
    debug = [line for line in done.stderr.splitlines() if "[debug]" in line]
    assert any("input 'dstream-counter' started, pid " in line for line in debug), debug
    assert any("ready, protocol 1, features: checkpoints" in line for line in debug), debug
    assert any('checkpoint stored: {"seq":10}' in line for line in debug), debug
    quiet = ws.run("run", "t", "--reset-state")
    assert "[debug]" not in quiet.stderr
