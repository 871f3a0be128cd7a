"""How an input's exit is judged (runtime/verdict.py, `input_exit_error`): the one
definition the pipeline calls, for the exit code it chose and for the kill dstream
dealt it. Each case is a real process that ended so."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from dstream.runtime.process import ProviderProcess
from dstream.runtime.verdict import InputEnd, input_exit_error

LABEL = "input './in.sh'"


def _ended(tmp_path: Path, body: str, *, kill: bool = False) -> tuple[ProviderProcess, int]:
    """An input that wrote a line on stderr, then ran `body` (killed with SIGKILL, as
    dstream kills, once it began to when `kill`); reaped, with its exit code."""
    script = tmp_path / "in.sh"
    script.write_text(f"#!/bin/sh\necho 'input said goodbye' >&2\necho began\n{body}\n")
    script.chmod(0o755)
    popen = subprocess.Popen(
        [str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a provider's own process group, which dstream kills
    )
    proc = ProviderProcess(popen, role="input", label=LABEL, log_sink=lambda *_: None)
    assert proc.read_line(30) == b"began"
    if kill:
        proc.kill()
    code = proc.wait(30)
    assert code is not None
    proc.close()
    return proc, code


def _end(
    code: int,
    outcome: str = "eof",
    *,
    stopped: bool = False,
    killed: bool = False,
    delivered: bool = True,
) -> InputEnd:
    return InputEnd(
        outcome=outcome,  # type: ignore[arg-type]
        code=code,
        stopped=stopped,
        killed=killed,
        delivered=delivered,
        stop_grace=1.5,
    )


@pytest.mark.timeout(60)
def test_an_input_exiting_non_zero_by_itself_fails(tmp_path: Path) -> None:
    proc, code = _ended(tmp_path, "exit 3")
    error = input_exit_error(proc, _end(code))
    assert error is not None
    assert error.reason == f"{LABEL} exited with code 3"
    assert error.hint == "everything it wrote before exiting was delivered; see its stderr"
    assert error.stderr_tail == ["input said goodbye"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "body, outcome, stopped",
    [
        ("exit 0", "eof", False),
        ("kill -TERM $$", "eof", True),  # the SIGTERM of a stop
        ("exit 143", "eof", True),  # the same, as a shell reports it
        ("kill -PIPE $$", "output_closed", False),  # the broken pipe of a broken stream
        ("exit 1", "io_error", False),  # the SDK's exit on EPIPE
    ],
    ids=["zero", "stop-signal", "stop-code", "broken-pipe", "sdk-broken-pipe"],
)
def test_an_input_ending_as_dstream_made_it_does_not_fail(
    tmp_path: Path, body: str, outcome: str, stopped: bool
) -> None:
    proc, code = _ended(tmp_path, body)
    assert input_exit_error(proc, _end(code, outcome, stopped=stopped)) is None


@pytest.mark.timeout(60)
def test_a_sigterm_nobody_asked_for_is_a_failure(tmp_path: Path) -> None:
    proc, code = _ended(tmp_path, "kill -TERM $$")
    error = input_exit_error(proc, _end(code))
    assert error is not None
    assert error.reason == f"{LABEL} was killed by SIGTERM (signal {int(signal.SIGTERM)})"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "delivered, what", [(True, "was delivered"), (False, "was sent to the output")]
)
def test_an_input_killed_for_outliving_its_stream_fails(
    tmp_path: Path, delivered: bool, what: str
) -> None:
    """No stop was asked for: it closed its stdout and did not exit by itself."""
    proc, code = _ended(tmp_path, "exec sleep 300", kill=True)
    error = input_exit_error(proc, _end(code, killed=True, delivered=delivered))
    assert error is not None
    assert error.reason == (
        f"{LABEL} closed its stdout but did not exit within stop_grace (1.5 s): dstream killed it"
    )
    assert error.hint is not None and error.hint.startswith(f"everything it wrote {what}; ")
    assert "raise stop_grace in the task" in error.hint
    assert error.stderr_tail == ["input said goodbye"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "outcome, stopped", [("eof", True), ("output_closed", False), ("stopped", True)]
)
def test_an_input_killed_at_a_stops_deadline_did_not_fail_of_its_own(
    tmp_path: Path, outcome: str, stopped: bool
) -> None:
    """Killed at the deadline of a stop, or after a stream that broke (whose error is the
    run's), whatever its exit code."""
    proc, code = _ended(tmp_path, "exec sleep 300", kill=True)
    end = _end(code, outcome, stopped=stopped, killed=True)
    assert input_exit_error(proc, end) is None
