"""The CLI's error boundary: an exception that is not a DstreamError (a bug) ends in
one line naming a crash report, the traceback in that file with secrets redacted, and
exit 70 (ExitCode.INTERNAL), whether it was raised in the main thread or in a task's.

No known input still crashes dstream (the corpus in test_corpus.py makes sure of
that), so the bug is injected: a sitecustomize.py on PYTHONPATH, imported by the real
`dstream` process at start, replaces one function with one that raises. This is the
only way to reach the boundary from outside without a bug to exploit."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from dstream.errors import ExitCode
from tests.hostile.cases import task
from tests.workspace import dstream

CANARY = "canary-s3cr3t-value"

INJECT = """
import dstream.{module} as target

def broken(*args, **kwargs):
    raise RuntimeError("injected bug; password={canary}")

owner, _, attribute = "{name}".rpartition(".")
setattr(getattr(target, owner) if owner else target, attribute, broken)
"""


def _dstream(tmp_path: Path, module: str, name: str, *args: str) -> tuple[int, str, str, Path]:
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(INJECT.format(module=module, name=name, canary=CANARY))
    state_home = tmp_path / "state-home"
    temporary = tmp_path / "tmp"  # the fallback's reports stay in the test's directory
    temporary.mkdir()
    env = {
        # the injection first, then the dstream under test (a checkout's, if set)
        "PYTHONPATH": os.pathsep.join(filter(None, [str(inject), os.environ.get("PYTHONPATH")])),
        "XDG_STATE_HOME": str(state_home),
        "DSTREAM_VAR_pin": CANARY,
        "TMPDIR": str(temporary),
    }
    done = dstream(*args, cwd=tmp_path, env=env)
    return done.returncode, done.stdout, done.stderr, state_home / "dstream"


def _check_report(code: int, stdout: str, output: str, reports: Path) -> str:
    """`output` is stderr: one line naming the report."""
    assert code == ExitCode.INTERNAL, output
    assert "Traceback" not in output + stdout, output
    assert CANARY not in stdout, stdout
    lines = [line for line in output.splitlines() if "internal error" in line]
    assert len(lines) == 1, output
    named = re.search(r"in (\S+crash-\S+\.txt)", lines[0])
    assert named, lines[0]
    path = Path(named.group(1).rstrip(";"))
    assert path.parent == reports, (path, reports)
    text = path.read_text()
    assert "Traceback" in text and "RuntimeError: injected bug" in text, text
    assert CANARY not in text and CANARY not in output, text
    return text


def test_a_crash_in_the_main_thread_writes_a_report(tmp_path: Path) -> None:
    (tmp_path / "dstream.hcl").write_text(task())
    code, stdout, output, reports = _dstream(tmp_path, "config.loader", "analyze", "lint")
    _check_report(code, stdout, output, reports)


def test_a_crash_in_a_task_thread_reaches_the_boundary(tmp_path: Path) -> None:
    (tmp_path / "dstream.hcl").write_text(task())
    code, stdout, output, reports = _dstream(tmp_path, "runtime.runner", "run_task", "run", "t")
    text = _check_report(code, stdout, output, reports)
    assert "run_task" in text or "broken" in text, text


def test_a_crash_in_a_pipeline_thread_reaches_the_boundary(tmp_path: Path) -> None:
    (tmp_path / "dstream.hcl").write_text(task())
    code, stdout, output, reports = _dstream(tmp_path, "runtime.streaming", "commit", "run", "t")
    _check_report(code, stdout, output, reports)


def test_json_mode_gets_one_document_naming_the_report(tmp_path: Path) -> None:
    (tmp_path / "dstream.hcl").write_text(task())
    code, stdout, output, reports = _dstream(tmp_path, "config.loader", "analyze", "lint", "--json")
    _check_report(code, stdout, output, reports)
    document = json.loads(stdout)
    assert document["ok"] is False and document["crash_report"].startswith(str(reports))
    assert document["exit_code"] == ExitCode.INTERNAL, document  # as every error document


def test_the_report_falls_back_to_the_temporary_directory(tmp_path: Path) -> None:
    (tmp_path / "dstream.hcl").write_text(task())
    (tmp_path / "state-home").write_text("a file where the directory should be")
    code, _, output, _ = _dstream(tmp_path, "config.loader", "analyze", "lint")
    assert code == ExitCode.INTERNAL, output
    named = re.search(r"in (\S+crash-\S+\.txt)", output)
    assert named, output
    report = Path(named.group(1).rstrip(";"))
    assert report.parent == tmp_path / "tmp" and report.exists(), output
