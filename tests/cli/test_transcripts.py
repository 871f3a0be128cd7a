"""Every command by (success, provider failure, configuration error, interrupt where it
applies): the full stdout, stderr and exit code, snapshot-tested against
tests/cli/transcripts/*.txt (see tests/cli/transcript.py; DSTREAM_UPDATE_TRANSCRIPTS=1
rewrites them), and no line may contradict the outcome (issue 19)."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Callable

import pytest

from tests.cli import scenarios, transcript
from tests.workspace import CliResult, Workspace


@dataclass(frozen=True)
class Case:
    setup: Callable[[Workspace], None]
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    interrupt: bool = False  # SIGINT once the output has written something


def _with_checkpoint(ws: Workspace) -> None:
    scenarios.lifecycle(ws)
    (ws.root / "state").mkdir()
    (ws.root / "state" / "t.json").write_text(
        '{"format": 1, "task": "t", "sequence": 1, "updated_at": 1.5, "checkpoint": {"seq": 5}}\n'
    )


FAIL = {"FAIL": "1"}
lc, bad, cfg = scenarios.lifecycle, scenarios.failing_input, scenarios.config_error
CASES: dict[str, Case] = {
    "run-success": Case(scenarios.counter_file, ["run", "t"]),
    "run-default-task": Case(scenarios.counter_file, ["run"]),
    "run-provider-failure": Case(bad, ["run", "t"]),
    "run-config-error": Case(cfg, ["run", "t"]),
    "run-unknown-task": Case(scenarios.counter_file, ["run", "tt"]),
    "run-bad-flag": Case(scenarios.counter_file, ["run", "--metrics-addr", "notanaddr"]),
    "run-interrupt": Case(
        lambda ws: scenarios.counter_file(ws, count=0, interval=5), ["run", "t"], interrupt=True
    ),
    "plan-success": Case(lc, ["plan", "t"]),
    "plan-no-lifecycle": Case(scenarios.counter_file, ["plan", "t"]),
    "plan-provider-failure": Case(lc, ["plan", "t"], FAIL),
    "plan-config-error": Case(cfg, ["plan", "t"]),
    "init-success": Case(lc, ["init", "t"]),
    "init-provider-failure": Case(lc, ["init", "t"], FAIL),
    "init-config-error": Case(cfg, ["init", "t"]),
    "status-success": Case(_with_checkpoint, ["status", "t"]),
    "status-provider-failure": Case(lc, ["status", "t"], FAIL),
    "status-config-error": Case(cfg, ["status", "t"]),
    "destroy-success": Case(_with_checkpoint, ["destroy", "t", "--auto-approve"]),
    "destroy-drop-state": Case(_with_checkpoint, ["destroy", "--auto-approve", "--drop-state"]),
    "destroy-provider-failure": Case(lc, ["destroy", "t", "--auto-approve"], FAIL),
    "destroy-config-error": Case(cfg, ["destroy", "t", "--auto-approve"]),
    "destroy-no-terminal": Case(lc, ["destroy", "t"]),
    "show-success": Case(lc, ["show", "t"]),
    "show-config-error": Case(cfg, ["show", "t"]),
    "lint-success": Case(lc, ["lint"]),
    "lint-config-error": Case(cfg, ["lint"]),
    "list-success": Case(lc, ["list"]),
    "list-config-error": Case(cfg, ["list"]),
    "state-list-success": Case(_with_checkpoint, ["state", "list"]),
    "state-show-success": Case(_with_checkpoint, ["state", "show", "t"]),
    "state-set-success": Case(_with_checkpoint, ["state", "set", "t", '{"seq": 7}']),
    "state-reset-success": Case(_with_checkpoint, ["state", "reset", "t"]),
    "state-config-error": Case(cfg, ["state", "list"]),
    "unknown-command": Case(lc, ["plna", "t"]),
}


def _run(ws: Workspace, case: Case) -> CliResult:
    if not case.interrupt:
        return ws.run(*case.args, env=case.env, stdin=subprocess_devnull())
    proc = ws.popen(*case.args, env=case.env)
    scenarios.wait_for(proc, ws, "out.jsonl")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return CliResult(proc.args, proc.returncode, out, err)  # type: ignore[arg-type]


def subprocess_devnull() -> int:
    import subprocess

    return subprocess.DEVNULL


@pytest.mark.parametrize("name", sorted(CASES))
def test_transcript(ws: Workspace, name: str) -> None:
    case = CASES[name]
    case.setup(ws)
    done = _run(ws, case)
    assert transcript.contradictions(done) == [], done.stdout + done.stderr
    transcript.check(name, transcript.render(case.args, done, ws.root, racy=case.interrupt))
