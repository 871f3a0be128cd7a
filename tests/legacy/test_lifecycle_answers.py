"""init / plan / status / destroy against outputs of the original's kinds that do more
than write one result line (the compat report, defects 1 to 3). The original wrote the
command line, closed the output's stdin at once, echoed everything it wrote on stdout
and failed when it exited non-zero (shared/ORIGINAL.md section 1)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.legacy import zoo
from tests.workspace import Workspace

QUEUES = ["localhost-testdb-cars", "localhost-testdb-persons"]


def task(
    ws: Workspace,
    config: str = "",
    *,
    output: str = "go_output",
    block: str = "",
    settings: str = "",
) -> None:
    """Task "t": the original counter (never asked) into the zoo output `output`, its
    config `config` (HCL lines), `block` more lines of its output block."""
    ws.config(
        f"""
        task "t" {{
          type = "providers"
          {settings}
          input {{ provider_path = "{zoo("counter_input")}" }}
          output {{
            provider_path = "{zoo(output)}"
            {block}
            config {{
              queues = {json.dumps(QUEUES)}
              {config}
            }}
          }}
        }}
        """
    )


def output_of(doc: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in doc["tasks"][0]["providers"] if p["role"] == "output")


def label(output: str = "go_output") -> str:
    return f"output '{zoo(output)}'"


# -- 1. lines that are not the result ------------------------------------------------


@pytest.mark.parametrize("handshake", ["true", "false"])
def test_log_lines_before_the_result_are_logged_and_the_work_finishes(
    ws: Workspace, handshake: str
) -> None:
    """A Go logger's coloured INFO lines on stdout, then a second of work, then the
    result: dstream reads on instead of stopping the provider half-way."""
    task(ws, f"log_lines = 2\nwork_seconds = 1\nhandshake = {handshake}")
    done = ws.run("init", "t")
    assert done.returncode == 0, done.stderr
    assert ws.read_text("done.txt") == "init\n"  # the work was not cut off
    assert f"{label()}: no infrastructure" not in done.stdout
    assert "nothing changed" not in done.stdout
    assert "localhost-testdb-persons" in done.stdout
    assert "Init done: 2 resource(s) reported." in done.stdout
    # Shown as the original echoed them, in the log (stdout holds the report).
    assert "[INFO] init: step 1" in done.stderr
    assert "[INFO] init: step 2" in done.stderr
    assert "\x1b[" not in done.stderr

    code, doc, err = ws.run_json("plan", "t")  # stdout stays one JSON document
    assert code == 0, err
    out = output_of(doc)
    assert (out["outcome"], out["resources"]) == ("done", QUEUES)
    assert "[INFO] plan: step 2" in err


def test_result_keys_that_differ_only_in_case_are_a_result(ws: Workspace) -> None:
    """Go's json.Unmarshal matches keys case-insensitively: a PascalCase
    InfrastructureResult (System.Text.Json's defaults) was a result for the original."""
    task(ws, 'keys = "pascal"')
    code, doc, err = ws.run_json("status", "t")
    assert code == 0, err
    out = output_of(doc)
    assert (out["outcome"], out["status"], out["resources"]) == ("done", "Success", QUEUES)
    assert out["message"] == "status done"

    task(ws, 'keys = "pascal"\nstatus = "Failed"\nerror = "quota exceeded"')
    done = ws.run("init", "t")
    assert done.returncode == 1, done.stdout
    assert f'{label()} reported Failed: "quota exceeded"' in done.stderr
    assert "✅" not in done.stdout


def test_output_that_logs_and_never_answers_times_out(ws: Workspace) -> None:
    """Stopped by dstream at --timeout: a failure, never "no infrastructure"."""
    task(ws, "log_lines = 1\nwork_seconds = 60")
    done = ws.run("status", "t", "--timeout", "2")
    assert done.returncode == 1, done.stdout
    assert f"{label()} did not report a result within 2 s" in done.stderr
    assert "[INFO] status: step 1" in done.stderr
    assert "no infrastructure" not in done.stdout.split(label())[-1]
    assert "✅" not in done.stdout


def test_output_slow_to_exit_after_its_result_is_waited_for_within_the_timeout(
    ws: Workspace,
) -> None:
    """The original waited for an output's exit up to its whole limit: one that takes
    11 s to exit after reporting Success (it closes its connections) succeeds while
    --timeout has time left."""
    task(ws, "linger_seconds = 11")
    done = ws.run("init", "t", "--timeout", "120")
    assert done.returncode == 0, done.stderr
    assert "Init done: 2 resource(s) reported." in done.stdout
    assert "✅" in done.stdout


def test_output_stopped_after_its_result_still_reports_what_it_created(
    ws: Workspace,
) -> None:
    """Past --timeout it is stopped and the command fails, but what it reported it made
    is shown and counted: never "no change reported"."""
    task(ws, "linger_seconds = 60")
    done = ws.run("init", "t", "--timeout", "3")
    assert done.returncode == 1, done.stdout
    assert f"{label()} reported Success but did not exit within --timeout (3 s)" in done.stderr
    assert "--timeout" in done.stderr.split("hint:")[1]  # what to do: give it longer
    for queue in QUEUES:
        assert queue in done.stdout
    assert f"Init stopped by an error in {label()}: 2 resource(s) reported" in done.stdout
    assert "no change reported" not in done.stdout
    code, doc, _ = ws.run_json("init", "t", "--timeout", "3")
    assert code == 1
    assert (output_of(doc)["outcome"], output_of(doc)["resources"]) == ("failed", QUEUES)


# -- 2. an exit without a result ------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "how"),
    [
        pytest.param("exit_code = 1", "exited with code 1", id="exit-1"),
        pytest.param("exit_code = 2", "exited with code 2", id="exit-2"),
        pytest.param("abort = true", "was killed by SIGABRT (signal 6)", id="sigabrt"),
        pytest.param(
            "exit_code = 2\nhandshake = false\nlog_lines = 1",
            "exited with code 2",
            id="no-handshake-log-line-exit-2",
        ),
    ],
)
def test_output_that_dies_without_a_result_fails_the_command(
    ws: Workspace, config: str, how: str
) -> None:
    task(ws, config)
    done = ws.run("init", "t")
    assert done.returncode == 1, done.stdout
    assert f"{label()} {how} without writing a result" in done.stderr
    assert "Unauthorized" in done.stderr  # its last stderr lines
    assert "✅" not in done.stdout
    assert "nothing changed" not in done.stdout
    code, doc, _ = ws.run_json("plan", "t")
    assert code == 1
    out = output_of(doc)
    assert out["outcome"] == "failed"
    assert any("Unauthorized" in line for line in out["stderr_tail"])


def test_sdk_output_without_infrastructure_fails_as_in_the_original(ws: Workspace) -> None:
    """The .NET SDK's host answers a lifecycle command to an output that is no
    IInfrastructureProvider with exit 1 (the original failed the command); the error
    says how to declare that it manages nothing."""
    task(ws, output="plain_sdk_output")
    done = ws.run("init", "t")
    assert done.returncode == 1, done.stdout
    assert f"{label('plain_sdk_output')} exited with code 1 without writing a result" in (
        done.stderr
    )
    assert "does not support infrastructure operations" in done.stderr
    assert "lifecycle = false" in done.stderr

    task(ws, output="plain_sdk_output", block="lifecycle = false")
    code, doc, err = ws.run_json("init", "t")
    assert code == 0, err
    out = output_of(doc)
    assert out["outcome"] == "no-infrastructure"
    assert "lifecycle = false" in out["note"]


def test_lifecycle_false_keeps_an_output_from_being_started(ws: Workspace) -> None:
    task(ws, block="lifecycle = false")
    done = ws.run("init", "t")
    assert done.returncode == 0, done.stderr
    assert f"{label()}: no infrastructure (not asked: lifecycle = false in its block)" in (
        done.stdout
    )
    assert not (ws.root / "done.txt").exists()


# -- 3. stdin closed after the command line --------------------------------------------


@pytest.mark.timeout(120)
def test_output_reading_stdin_to_eof_answers_at_once(ws: Workspace) -> None:
    """Go's io.ReadAll: it answers only once its stdin is closed, as the original
    closed it right after the command line."""
    task(ws, block='env = { READ_ALL = "1" }', settings='start_timeout = "20s"')
    code, doc, err = ws.run_json("plan", "t")
    assert code == 0, err
    assert (output_of(doc)["outcome"], output_of(doc)["resources"]) == ("done", QUEUES)


@pytest.mark.timeout(120)
def test_output_that_exits_0_without_a_result_manages_nothing(ws: Workspace) -> None:
    """The SDK 0.1.1 config-only output: no handshake, reads stdin to EOF, exits 0."""
    task(ws, 'sdk = "0.1.1"', output="plain_sdk_output", settings='start_timeout = "20s"')
    code, doc, err = ws.run_json("init", "t")
    assert code == 0, err
    out = output_of(doc)
    assert (out["outcome"], out["exit_code"]) == ("no-infrastructure", 0)
    assert "exited with code 0 without writing a result" in out["note"]
