"""What a person running dstream sees: metrics, progress, summaries, several tasks,
reloads. Real processes throughout; the terminal is a real pseudo-terminal."""

from __future__ import annotations

import select
import signal
import subprocess
import time

import orjson
import pytest

from tests.providers import SHELL_OUTPUT
from tests.runtime.conftest import metrics_address, scrape
from tests.services import wait_until
from tests.workspace import Workspace

# Writes N frames and a checkpoint, then idles until SIGTERM (a long-running source).
IDLE_INPUT = r"""
read -r command
echo '{"status":"ready"}'
i=1
while [ $i -le ${N:-1000} ]; do
  printf '{"data":{"n":%d},"metadata":{"TableName":"t%d"}}\n' $i $((i % 3))
  i=$((i + 1))
done
echo "{\"checkpoint\":{\"n\":${N:-1000}}}"
exec sleep 120
"""


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{"):
            got = ",".join(sorted(line[len(name) + 1 : line.index("}")].split(",")))
            if got == want:
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{want}}} not in metrics:\n{text}")


def test_metrics_scraped_during_a_run_match_what_the_output_received(ws: Workspace) -> None:
    ws.script("idle.sh", IDLE_INPUT)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./idle.sh", "./output.sh", name="m", state=True)
    proc = ws.popen("run", "m", "--json", "--metrics-addr", "127.0.0.1:0")
    addr = metrics_address(proc)
    acks = "dstream_checkpoints_acknowledged_total"
    wait_until(
        "one acknowledged checkpoint",
        lambda: _metric(scrape(addr)[1], acks, task="m") == 1,
        tick=0.1,
    )
    _, text = scrape(addr)
    received = ws.json_lines("out.jsonl")
    assert len(received) == 1000
    assert _metric(text, "dstream_frames_total", task="m", kind="data") == len(received)
    assert _metric(text, "dstream_frames_total", task="m", kind="checkpoint") == 1
    assert _metric(text, "dstream_table_frames_total", task="m", table="t0") == 333
    assert _metric(text, "dstream_invalid_frames_total", task="m", policy="skip") == 0
    assert _metric(text, "dstream_up", task="m") == 1
    assert _metric(text, "dstream_provider_restarts_total", task="m") == 0
    assert 0 <= _metric(text, "dstream_checkpoint_lag_seconds", task="m") < 60
    assert scrape(addr, "/healthz") == (200, "ok\n")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    summary = orjson.loads(out)["tasks"][0]
    assert summary["counters"]["data_frames"] == len(received)
    assert summary["counters"]["tables"] == {"t0": 333, "t1": 334, "t2": 333}


def _slow_task(ws: Workspace) -> None:
    ws.script(
        "slow.sh",
        r"""
        read -r command
        echo '{"status":"ready"}'
        i=1
        while [ $i -le 15 ]; do
          printf '{"data":{"n":%d},"metadata":{}}\n' $i
          i=$((i + 1))
          sleep 0.1
        done
        """,
    )
    ws.script("echo-out.sh", 'read -r command\necho \'{"status":"ready"}\'\nexec cat\n')
    ws.task("./slow.sh", "./echo-out.sh", name="p")


@pytest.mark.timeout(120)  # a run that hangs on the terminal
def test_progress_renders_on_a_terminal_and_stops_cleanly(ws: Workspace) -> None:
    _slow_task(ws)
    shown = ws.on_a_terminal("run", "p", env={"COLUMNS": "120", "TERM": "xterm"})
    assert shown.returncode == 0, shown.screen
    text = shown.screen
    assert "env/s" in text and "checkpoint" in text  # the live table was drawn
    assert text.count('{"data":{"n":') == 15  # the output's lines, all of them
    assert "task p: completed" in text  # the summary after the display stopped
    assert text.rstrip().endswith('✅ Task "p" executed successfully')  # nothing after it


def test_piped_output_has_no_progress_noise(ws: Workspace) -> None:
    _slow_task(ws)
    done = ws.run("run", "p")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [orjson.loads(line)["data"]["n"] for line in lines] == list(range(1, 16))
    assert b"\x1b[" not in done.stdout_bytes and b"\x1b[" not in done.stderr_bytes
    assert b"env/s" not in done.stderr_bytes


def test_two_tasks_one_fails_the_other_completes(ws: Workspace) -> None:
    ws.script("good.sh", IDLE_INPUT.replace("exec sleep 120", "exit 0"))
    ws.script("bad.sh", 'read -r command\necho \'{"status":"ready"}\'\necho boom >&2\nexit 3\n')
    ws.script("output.sh", SHELL_OUTPUT)
    ws.config(
        """
        task "good" {
          input  { provider_path = "./good.sh" }
          output {
            provider_path = "./output.sh"
            env = { OUT = "good.jsonl" }
          }
        }
        task "bad" {
          input  { provider_path = "./bad.sh" }
          output {
            provider_path = "./output.sh"
            env = { OUT = "bad.jsonl" }
          }
        }
        """
    )
    done = ws.run("run", "good", "bad", "--json")
    assert done.returncode == 1
    doc = orjson.loads(done.stdout)
    outcomes = {t["task"]: t["outcome"] for t in doc["tasks"]}
    assert outcomes == {"good": "completed", "bad": "failed"}
    assert doc["ok"] is False
    assert len(ws.json_lines("good.jsonl")) == 1000
    assert "bad/input: boom" in done.stderr  # several tasks: lines say which


# Task "a": the idle input writes N envelopes, the shell output appends them to OUT.
IDLE_TASK_A = """
        task "a" {{
          input  {{
            provider_path = "./idle.sh"
            env = {{ N = "{n}" }}
          }}
          output {{
            provider_path = "./output.sh"
            env = {{ OUT = "{out}" }}
          }}
        }}
"""


def idle_providers(ws: Workspace) -> None:
    ws.script("idle.sh", IDLE_INPUT)
    ws.script("output.sh", SHELL_OUTPUT)


def test_sighup_restarts_only_the_task_whose_definition_changed(ws: Workspace) -> None:
    idle_providers(ws)
    template = (
        IDLE_TASK_A.replace("{out}", "a{n}.jsonl")
        + """
        task "b" {{
          input  {{ provider_path = "./idle.sh" }}
          output {{
            provider_path = "./output.sh"
            env = {{ OUT = "b.jsonl" }}
          }}
        }}
        """
    )
    ws.config(template.format(n=10))
    proc = ws.popen("run", "a", "b", "--json")
    wait_until(
        "both tasks' output",
        lambda: len(ws.json_lines("a10.jsonl")) == 10 and len(ws.json_lines("b.jsonl")) == 1000,
        tick=0.1,
    )
    ws.config(template.format(n=20))
    proc.send_signal(signal.SIGHUP)
    wait_until(
        "the reloaded task's output", lambda: len(ws.json_lines("a20.jsonl")) == 20, tick=0.1
    )
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "task a: its definition changed: restarting it" in err.decode()
    assert "task b: its definition changed" not in err.decode()
    tasks = {t["task"]: t for t in orjson.loads(out)["tasks"]}
    assert tasks["a"]["attempts"] == 1  # a reload is not a failure
    assert tasks["b"]["counters"]["data_frames"] == 1000  # b was never restarted


def test_sighup_keeps_a_task_the_new_configuration_cannot_evaluate(ws: Workspace) -> None:
    """A reload whose file breaks the running task (a template reading an unset
    variable) keeps it running as it was and says why: it is not "gone"."""
    idle_providers(ws)
    template = IDLE_TASK_A.replace("{out}", "a.jsonl")
    ws.config(template.format(n=10))
    errors = ws.root / "stderr.log"
    with open(errors, "wb") as sink:
        proc = ws.popen("run", "a", "--json", stderr=sink)
        wait_until("the task's output", lambda: len(ws.json_lines("a.jsonl")) == 10, tick=0.1)
        ws.config(template.format(n='{{ env \\"UNSET_FOR_RELOAD\\" }}'))
        proc.send_signal(signal.SIGHUP)
        wait_until("the reload", lambda: b"after the reload" in errors.read_bytes(), tick=0.1)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    text = errors.read_text()
    assert proc.returncode == 130, text
    assert "task a: cannot be evaluated after the reload" in text, text
    assert "UNSET_FOR_RELOAD" in text and "gone from the configuration" not in text, text
    assert orjson.loads(out)["tasks"][0]["attempts"] == 1


# Writes one stderr line, waits until the test has closed dstream's stderr, then far
# more than a pipe holds (~220 KiB): if dstream stopped reading its stderr, it blocks.
CHATTY_INPUT = """read -r command
echo '{"status":"ready"}'
echo "before" >&2
while [ ! -e closed ]; do sleep 0.05; done
i=0
while [ $i -lt 2000 ]; do
  echo "after $i: a provider that logs a lot ..........................................." >&2
  i=$((i + 1))
done
echo '{"data":1}'
"""


def test_a_closed_stderr_does_not_fail_the_run(ws: Workspace) -> None:
    """`dstream run 2>&1 | head -1`: once the reader of stderr is gone, log lines have
    nowhere to go; dstream still drains its providers' stderr, so the run completes and
    exits 0 (it hung: the forwarder stopped at the first failed write)."""
    ws.script("input.sh", CHATTY_INPUT)
    ws.shell_output_task("./input.sh")
    proc = ws.popen("run", "t", "-q")
    assert proc.stderr is not None
    try:
        assert b"before" in proc.stderr.readline()
        proc.stderr.close()
        proc.stderr = None  # communicate() reads stdout only
        (ws.root / "closed").touch()
        proc.communicate(timeout=60)  # TimeoutExpired: the input blocked on its stderr
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0
    assert ws.json_lines("out.jsonl") == [{"data": 1}]


def test_a_log_sink_that_fails_does_not_stop_the_draining() -> None:
    """A provider's stderr is drained whatever becomes of its lines: a sink that raises
    (a log destination that fails) drops the line and the reading goes on. Before, the
    forwarder thread ended at the sink's first OSError, and a provider writing more than
    a pipe's worth of stderr then blocked for ever."""
    from dstream.runtime.process import ProviderProcess

    def failing_sink(task: str, role: str, text: str) -> None:
        raise OSError("the log destination is gone")

    popen = subprocess.Popen(
        ["sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo 'a line of stderr, again' >&2;"
         " i=$((i+1)); done; echo done"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    process = ProviderProcess(popen, role="input", label="input 'sh'", log_sink=failing_sink)
    try:
        assert popen.stdout is not None
        ready, _, _ = select.select([popen.stdout], [], [], 30)
        assert ready, "the provider blocked on its stderr: nobody drained it"
        assert popen.stdout.readline() == b"done\n"
        assert popen.wait(timeout=30) == 0
        assert process.stderr_tail()[-1] == "a line of stderr, again"
    finally:
        popen.kill()
        popen.wait()


COUNTER_TASK = """
task "a" {{
  input {{
    provider_path = "dstream-counter"
    config {{
      interval         = 20
      max_count        = {max_count}
      checkpoint_every = 10
    }}
  }}
  output {{
    provider_path = "dstream-file"
    config {{ path = "out.jsonl" }}
  }}
}}
"""


def test_sighup_keeps_the_running_task_when_the_new_config_fails_its_providers_check(
    ws: Workspace,
) -> None:
    """A reload whose file `run` and `lint` would refuse (a config key of the wrong
    type) is reported and the running task kept, as for a file that does not load; it
    stopped the task, started the refused one, failed the run, and remembered the
    refused input's configuration, so the next `run` of the restored file was refused."""
    ws.config(COUNTER_TASK.format(max_count=0))
    errors = ws.root / "stderr.log"
    with open(errors, "wb") as sink:
        proc = ws.popen("run", "a", stderr=sink)
        wait_until("streaming", lambda: len(ws.json_lines("out.jsonl")) >= 10, tick=0.1)
        ws.config(COUNTER_TASK.format(max_count='"lots"'))
        proc.send_signal(signal.SIGHUP)
        wait_until("the reload", lambda: b"reload failed" in errors.read_bytes(), tick=0.1)
        assert proc.poll() is None, errors.read_text()  # still running
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    text = errors.read_text()
    assert proc.returncode == 143, text
    assert "config key 'max_count'" in text and "must be an integer" in text, text
    assert "its definition changed: restarting it" not in text, text
    ws.config(COUNTER_TASK.format(max_count=0))
    again = ws.popen("run", "a")
    wait_until("streaming again", lambda: again.poll() is not None or len(
        ws.json_lines("out.jsonl")) >= 40, tick=0.1)  # fmt: skip
    assert again.poll() is None, again.communicate(timeout=10)
    again.send_signal(signal.SIGTERM)
    assert again.wait(timeout=30) == 143


def test_healthz_stays_ok_after_a_reload_removes_a_task(ws: Workspace) -> None:
    """docs/operations.md: 200 while each task runs, completed or was removed by a
    reload. A removed task's monitor kept its attempt's "interrupted": 503 until the
    process ended, so a liveness probe would restart a healthy pod."""
    idle_providers(ws)
    task_b = """
        task "b" {
          input  { provider_path = "./idle.sh" }
          output {
            provider_path = "./output.sh"
            env = { OUT = "b.jsonl" }
          }
        }
        """
    only_a = IDLE_TASK_A.replace("{out}", "a.jsonl").format(n=10)
    ws.config(only_a + task_b)
    proc = ws.popen("run", "a", "b", "--json", "--metrics-addr", "127.0.0.1:0")
    try:
        addr = metrics_address(proc)
        wait_until("both streaming", lambda: len(ws.json_lines("b.jsonl")) == 1000, tick=0.1)
        assert scrape(addr, "/healthz") == (200, "ok\n")
        ws.config(only_a)
        proc.send_signal(signal.SIGHUP)
        wait_until("b removed", lambda: "b" not in _up_tasks(scrape(addr)[1]), tick=0.1)
        for _ in range(10):
            assert scrape(addr, "/healthz") == (200, "ok\n")
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _up_tasks(text: str) -> set[str]:
    """The tasks whose dstream_up is 1."""
    return {
        line.split('task="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("dstream_up{") and line.rstrip().endswith(" 1.0")
    }
