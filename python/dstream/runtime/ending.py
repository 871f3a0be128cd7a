"""The end of one run (runtime/pipeline.py's TaskRun): once the stream ended, the
output is let finish, both providers are reaped (killed when they outlive their time),
how they exited is judged (runtime/verdict.py decides) and the run's outcome settled.
Also how a run ends that never began to stream: stopped while starting, or failed."""

from __future__ import annotations

import time

from dstream import logs
from dstream.errors import LockLost
from dstream.runtime import verdict
from dstream.runtime.process import KILL_WAIT, ProviderProcess, Unread
from dstream.runtime.result import stored_checkpoint
from dstream.runtime.streaming import SUPERVISE_TICK

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from typing import Optional

    from dstream._core import Outcome, PumpResult
    from dstream.runtime.pipeline import TaskRun


def finish(run: TaskRun, result: Optional[PumpResult], threads: list[threading.Thread]) -> None:
    """The stream ended: note what the pump saw, stop and reap both providers, judge
    how they exited and settle the run's outcome."""
    outcome = verdict.outcome_of(result)
    _note_pump_result(run, outcome, result)
    left = left_early(outcome, run.output_left, killed_in_stream=output_killed(run))
    # The stream broke before any stop was asked for: the run failed, whatever signal
    # comes while its providers are reaped (runner._settled).
    unasked = run.left_unasked if run.output_left else run.stop.requests == 0
    broke = left or outcome in ("invalid_frame", "dead_letter_failed", "io_error")
    run.summary.failed_unasked = broke and unasked
    in_code, out_code, unread = _drain(run, outcome, result, threads)
    if not left and not output_killed(run) and run.providers()[1].stdin_broke():
        # A container output's broken stdin is known only once it ended.
        left = True
        run.summary.failed_unasked = unasked
    run.summary.exit_codes = {"input": in_code, "output": out_code}
    _judge_exits(run, outcome, in_code, out_code, left_early=left, unread=unread)
    _settle(run, outcome, torn=result is not None and result.torn is not None)


def left_early(outcome: Outcome, output_left: bool, *, killed_in_stream: bool) -> bool:
    """Whether the output left the stream before its end by itself: it closed its stdin
    (the pump's write broke) or exited while the input could still write. Not when
    dstream killed it while the stream was open (a second interrupt, the stop
    deadline): the broken pipe, or its exit seen before the input's, was dstream's doing."""
    return (outcome == "output_closed" or output_left) and not killed_in_stream


def _note_pump_result(run: TaskRun, outcome: Outcome, result: Optional[PumpResult]) -> None:
    """A torn last line becomes a note; an invalid frame or a pump failure an error."""
    inp = run.providers()[0]
    note = verdict.torn_note(result, killed="input" in run.deadline.forced)
    if note is not None:
        logs.log.warning("%s: %s", inp.label, note, task=run.task.name)
        run.summary.notes.append(note)
    if outcome == "eof":
        quiet = verdict.no_checkpoint_note(result, inp.features, run.state is not None)
        if quiet is not None:
            logs.log.warning("%s: %s", inp.label, quiet, task=run.task.name)
            run.summary.notes.append(quiet)
    if outcome == "invalid_frame":
        assert result is not None
        run.errors.insert(0, verdict.invalid_frame_error(result, inp))
    elif outcome == "dead_letter_failed":
        run.errors.append(verdict.dead_letter_failure(result))
    elif outcome == "io_error":
        run.errors.append(verdict.pump_failure(result))


def _drain(
    run: TaskRun,
    outcome: Outcome,
    result: Optional[PumpResult],
    threads: list[threading.Thread],
) -> tuple[Optional[int], Optional[int], Optional[Unread]]:
    """Let the output finish what it got, reap both providers and join the reader
    threads. Returns the (input, output) exit codes and, after a whole stream, what the
    output left unread in its stdin pipe."""
    inp, out = run.providers()
    # After a whole stream everything is in the output's pipe or read: what is left
    # there once it exited was lost to it (after a broken one, the stream's error says).
    probe = out.watch_unread() if outcome == "eof" else None
    if outcome != "eof":
        # Nothing reads the input any more: SIGTERM says why, and closing its stdout
        # frees a write blocked on the full pipe, so it exits now, not after grace.
        left = run.output_left or outcome == "output_closed"
        run.deadline.start(f"{out.label} left the stream" if left else "the stream broke")
        inp.terminate()
        # What its pipe holds now is dropped with it: the summary says how much.
        note = verdict.unread_input_note(inp.label, _never_read(inp, result))
        if note is not None:
            run.summary.notes.append(note)
        inp.close_stdout()
    # The output gets EOF and finishes: flush, acknowledge, exit 0.
    out.close_stdin()
    # After a clean end the output may take flush_timeout to flush; once stopping
    # was asked for (or the stream broke, or the run failed) it gets stop_grace.
    if outcome == "eof":
        run.monitor.waiting = f"waiting for {out.label} to exit after the end of the stream"
    try:
        out_code = reap(run, out, "output", patient=outcome == "eof")
    finally:
        run.monitor.waiting = None
        # Once the output is reaped (its group too), and closed whatever happens.
        unread = probe.take() if probe is not None else None
    # An input still running now gets stop_grace from the output's end, unless a stop,
    # a broken stream or a failure began the deadline before (docs/protocol.md, section 7).
    since = f"{out.label} {'was killed' if output_killed(run) else 'exited'}"
    in_code = reap(run, inp, "input", patient=False, since=since)
    for thread in threads:
        thread.join(timeout=run.deadline.join_time())
    return in_code, out_code, unread


def _never_read(inp: ProviderProcess, result: Optional[PumpResult]) -> Optional[int]:
    """The bytes the input wrote after the last one the pump dealt with (None: unknown):
    those in its stdout pipe, less the ones the pump already read there (zero-copy peeks
    without consuming), plus those it read and never dealt with (what followed the
    invalid frame that failed the run, frames a stop left unwritten)."""
    in_pipe = inp.unread_stdout()
    if in_pipe is None or result is None:
        return in_pipe
    return in_pipe - result.peeked + result.undealt


def output_killed(run: TaskRun) -> bool:
    """dstream killed the output: at the stop's deadline, a second interrupt, or
    flush_timeout after the end of the stream."""
    return "output" in run.deadline.forced or run.flush_expired


def _judge_exits(
    run: TaskRun,
    outcome: Outcome,
    in_code: Optional[int],
    out_code: Optional[int],
    *,
    left_early: bool,
    unread: Optional[Unread],
) -> None:
    """A provider's exit code is its failure unless dstream stopped or killed it; an
    output also fails by leaving the stream early, leaving part of it unread or not
    confirming its end, an input by not exiting after it closed its stdout
    (verdict.input_exit_error)."""
    inp, out = run.providers()
    lost = [error for error in (inp.engine_lost(), out.engine_lost()) if error is not None]
    if lost:  # no exit code came: none to judge, and nothing else went wrong first
        run.errors[:0] = lost
        return
    killed = output_killed(run)
    end = verdict.OutputEnd(
        code=out_code,
        left_early=left_early,
        killed=killed,
        flush_timeout=run.task.flush_timeout if run.flush_expired else None,
        stored=stored_checkpoint(run.summary, run.state) is not None,
        unread=unread,
        answered=run.output_handshake is not None,
    )
    error = verdict.output_exit_error(out, end)
    if error is None and outcome == "eof" and out_code == 0 and not killed:
        last = verdict.unacknowledged(run.output_handshake, run.tracker)
        if last is not None:
            error = verdict.unacknowledged_error(out, last, end.stored)
    if error is not None:
        run.errors.append(error)
    inp_end = verdict.InputEnd(
        outcome=outcome,
        code=in_code,
        stopped=run.stop.requests > 0,
        killed="input" in run.deadline.forced,
        delivered=error is None and not killed,
        stop_grace=run.task.stop_grace,
    )
    error = verdict.input_exit_error(inp, inp_end)
    if error is not None:
        run.errors.append(error)


def _settle(run: TaskRun, outcome: Outcome, *, torn: bool) -> None:
    """Close both providers; the first error (a lost lease before any other), a stop
    request or nothing: the outcome."""
    inp, out = run.providers()
    inp.close()
    out.close()
    if run.errors:
        run.summary.outcome = "failed"
        # A holder paused past its lease may find its checkpoint write cut first (the
        # server ends a session idle in a transaction): the loss is what ended the run.
        lost = [error for error in run.errors if isinstance(error, LockLost)]
        run.summary.error = (lost or run.errors)[0]
    elif run.stop.requests > 0:
        _interrupted(run, outcome, out, torn=torn)
    else:
        run.summary.outcome = "completed"


def _interrupted(run: TaskRun, outcome: Outcome, out: ProviderProcess, *, torn: bool) -> None:
    """A stopped run: what reached the output, and where the next run resumes, said
    truthfully (verdict.interrupted; whether it can resume at all is judged once its
    attempts ended: runner.run_task); an output killed before it exited is a note of
    the human summary too."""
    summary = run.summary
    stored = stored_checkpoint(summary, run.state)
    end = verdict.StopEnd(
        task=run.task.name,
        output=out.label,
        stream_ended=outcome == "eof",
        output_killed=output_killed(run),
        second_signal=run.deadline.second_signal,
        envelopes=int(run.pump.counters().data_frames if run.pump else 0),
        acknowledged=summary.last_checkpoint,
        stored=stored,
        torn=torn,
    )
    error = verdict.interrupted(end)
    error.exit_code = run.stop.exit_code
    summary.outcome = "interrupted"
    summary.error = error
    if end.output_killed or not end.stream_ended:
        summary.notes.append(f"{error.reason}; {error.hint}")


def reap(
    run: TaskRun, proc: ProviderProcess, role: str, *, patient: bool, since: Optional[str] = None
) -> Optional[int]:
    """Wait for a provider to exit: up to the task's flush_timeout while `patient`
    and neither a stop was asked nor the run failed, else until the stop deadline
    (stop_grace from the first stop request, else from now: the stream broke, the run
    failed or, for the input, the output ended; `since` says which, for the warning);
    then it is killed with its group. A second interrupt kills at once."""
    if not patient:
        run.deadline.start(since)
    flush_by = time.monotonic() + run.task.flush_timeout
    while True:
        code = proc.wait(SUPERVISE_TICK)
        if code is not None:
            # An input's stdout held open ends its stream at stop_grace, with its own
            # warning (streaming._end_orphaned_stream).
            proc.end_group(warn=role == "output")
            return code
        if patient and run.errors:  # e.g. its stdout broke the rules: no patience
            patient = False
            run.deadline.start("the run failed")
        if patient and time.monotonic() >= flush_by:
            logs.log.warning(
                "%s did not exit within flush_timeout (%g s) after the end "
                "of the stream, killing it", proc.label,
                run.task.flush_timeout, task=run.task.name,
            )  # fmt: skip
            run.flush_expired = True
            proc.kill()
            return proc.wait(KILL_WAIT)
        run.deadline.check(run.pump, {"input": run.input, "output": run.output})
        if role in run.deadline.forced:
            proc.kill()
            return proc.wait(KILL_WAIT)


def stop_started(run: TaskRun) -> None:
    """Stop providers that have not begun to stream as a stop asks: the input gets
    SIGTERM, the output EOF; what still runs at the stop deadline is killed."""
    if run.input is not None:
        run.input.terminate()
    if run.output is not None:
        run.output.close_stdin()
    for proc, role in ((run.input, "input"), (run.output, "output")):
        if proc is not None:
            reap(run, proc, role, patient=False)
    # A warm start's thread may still read the input's stdout, on its way to EOF.
    if run.warm is None or run.warm.released(KILL_WAIT):
        for proc in (run.input, run.output):
            if proc is not None:
                proc.close()


def kill_all(run: TaskRun) -> None:
    """Kill and close whatever was started (a start that failed); how each ended goes in
    the summary (`exit_codes`), as after a stream: an input that exited 3 before its
    handshake is `"input": 3` in --json, as its error says."""
    for role, proc in (("input", run.input), ("output", run.output)):
        if proc is not None:
            proc.kill_and_close()
            run.summary.exit_codes[role] = proc.poll()
