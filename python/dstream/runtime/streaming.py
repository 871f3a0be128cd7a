"""A run while its pump streams (runtime/pipeline.py's TaskRun): the calling thread
supervises (`supervise`: signals, a provider that left, the stop deadline), a thread
of its own reads the output's stdout (`OutputReader`: its handshake, acknowledgements,
lines for the user), the committer stores what was acknowledged (`commit`) and the
notifier tells the input (`notify`). How the run ends after that is
runtime/ending.py's."""

from __future__ import annotations

import sys
import time

from dstream import drop_stdout, logs, stdout_dropped
from dstream.config.redact import redact_bytes
from dstream.errors import (
    STDOUT_GONE,
    DstreamError,
    ProviderError,
    ProviderRefused,
    StdoutLost,
    stdout_failed,
)
from dstream.protocol.messages import parse_handshake
from dstream.protocol.values import Fragment, encode_json
from dstream.runtime.checkpoints import is_ack, parse_ack
from dstream.runtime.description import remember
from dstream.runtime.legacy import OUTPUT_STRAY_WATCH
from dstream.runtime.monitor import StallWatch
from dstream.runtime.process import REFUSAL_HINT

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from typing import Callable, Optional

    from dstream._core import Pump, PumpResult
    from dstream.runtime.checkpoints import CheckpointTracker
    from dstream.runtime.mailbox import Latest
    from dstream.runtime.pipeline import OutputLineHook, TaskRun
    from dstream.runtime.process import ProviderProcess

SUPERVISE_TICK = 0.1  # seconds between two looks at a provider, a signal, the deadline


def supervise(run: TaskRun, pump_thread: threading.Thread) -> None:
    """Wait for the pump, acting on signals, on a provider that died and on the
    stop deadline."""
    inp, out = run.providers()
    pump = run.pump
    assert pump is not None
    handled = 0
    # Since when the input has exited with its stdout still open while the pump was free
    # to read it (None: not so now); once warned, never again.
    orphaned: Optional[float] = None
    orphan_warned = cut = False
    stall = StallWatch(out.label, run.task.name)
    while pump_thread.is_alive():
        pump_thread.join(SUPERVISE_TICK)  # returns the moment the stream ends
        run.legacy.forward_logs()
        stall.check(pump)
        if not run.output_left and out.poll() is not None and not inp.exited():
            # The output left while the input may still write (the pump may be
            # waiting on an idle input). Once both exited, the pump ends by itself:
            # at EOF when the output had everything, on EPIPE when it had not. Looked
            # at before a new stop: a signal this tick came after it left.
            run.output_left, run.left_unasked = True, handled == 0
            pump.stop()
        if run.stop.requests > handled:
            handled = run.stop.requests
            if handled == 1:
                # Drain: the input stops, the pump delivers what it still writes.
                run.deadline.start()
                inp.terminate()
            run.stop.event.clear()
        if not pump_thread.is_alive():
            break
        run.deadline.check(pump, {"input": inp, "output": out})
        if not cut and "input" not in run.deadline.forced and run.deadline.input_due():
            _cut_input(run, inp, out, pump)
            cut = True
        if orphan_warned or not inp.exited() or pump.output_stalled_for() is not None:
            # A pump waiting on the output reads nothing of the input's pipe, whose
            # lines then wait there: no EOF yet says nothing of an orphan (the stall
            # warning names the output instead).
            orphaned = None
        elif orphaned is None:
            orphaned = time.monotonic()
        elif time.monotonic() - orphaned >= run.task.stop_grace:
            _end_orphaned_stream(run, inp, pump)
            orphan_warned = True
    pump_thread.join()


def after_stream(run: TaskRun, result: Optional[PumpResult]) -> None:
    """The pump returned. One that stopped at its lease's local deadline makes the loss
    known now, as the keeper's watchdog would a moment later: the run fails with
    LeaseDeadlinePassed and its stop deadline is brought forward. A stop deadline already
    passed then (a holder resumed past its lease, maybe taken over meanwhile) kills what
    still runs at once: the output is not given its end of stream first, which would let
    it write what its stdin pipe holds into the sink beside the new holder's writes."""
    if result is not None and result.outcome == "deadline_passed":
        run.store.lease_deadline_passed(run.task.name)
    inp, out = run.providers()
    run.deadline.check(run.pump, {"input": inp, "output": out})


def _cut_input(run: TaskRun, inp: ProviderProcess, out: ProviderProcess, pump: Pump) -> None:
    """Half the stop's time is gone and the input's stream is still open: the input
    is killed and what it wrote is delivered, so that the output gets its EOF with
    the other half left to flush (it would otherwise be killed with the input, at
    the deadline, before it ever saw the end of its stdin). An input that exited
    already is not killed: its stream ends with what its pipe holds (end_input). What
    it wrote reaches an output that reads nothing (a stall) only if it reads again."""
    left = max(0.0, (run.deadline.at or 0.0) - time.monotonic())
    stalled = pump.output_stalled_for()
    if stalled is None:
        fate = (
            f"what it wrote is delivered, and {out.label} has the other half "
            f"({left:.1f} s) to flush"
        )
    else:
        fate = (
            f"what it wrote reaches {out.label} only if it reads again within {left:.1f} s: "
            f"it has read nothing of its stdin for {stalled:.0f} s"
        )
    if not inp.exited():
        logs.log.warning(
            "%s did not stop within half of stop_grace (%g s): killing it; %s",
            inp.label, run.task.stop_grace / 2, fate, task=run.task.name,
        )  # fmt: skip
        run.deadline.forced.add("input")
        inp.kill()
    pump.end_input()


def _end_orphaned_stream(run: TaskRun, inp: ProviderProcess, pump: Pump) -> None:
    """The input exited stop_grace ago and its stdout is still open: what it started
    holds it. Its group dies with it; one in a session of its own cannot be reached,
    so the pump reads what the pipe holds and ends the stream as at EOF."""
    logs.log.warning(
        "%s exited %g s ago, but something it started still holds its "
        "stdout open: the stream ends with what the input wrote (stop_grace)",
        inp.label, run.task.stop_grace, task=run.task.name,
    )  # fmt: skip
    inp.kill_group()
    pump.end_input()


def terminal_line(task: str, line: bytes, *, several: bool) -> bytes:
    """An output's line as a terminal shows it: in a run of several tasks the lines of
    all their outputs meet there, so each is named `task/output: `, as the providers'
    log lines are (logs.provider_line). Also run --json's lines on stderr, terminal or
    not, which meet the providers' log lines there; stdout into a pipe gets the line as
    the output wrote it (`StdoutPrinter`)."""
    return f"{task}/output: ".encode() + line if several else line


class StdoutPrinter:
    """The hook that writes an output's lines on dstream's stdout: as the output wrote
    them into a pipe or a file, named by their task on a terminal (`terminal_line`)
    and at once there, so a person sees each when it comes. Into a pipe or a file they
    are buffered (a fast console output keeps its speed) until `flush`, which the
    committer calls before it stores a checkpoint: the lines before its acknowledgement
    are then the OS's, and a kill -9 after the store cannot lose them."""

    def __init__(self) -> None:
        self._out, self._terminal = sys.stdout.buffer, sys.stdout.isatty()
        # Lines of this task written since the last flush: a task that printed none
        # is not failed by a stdout another task's lines lost.
        self._pending = False

    def __call__(self, task: str, line: bytes, several: bool) -> None:
        try:
            if not self._terminal:
                self._out.write(line + b"\n")
                self._pending = True
                return
            self._out.write(terminal_line(task, line, several=several) + b"\n")
            self._out.flush()
        except OSError as exc:
            raise _stdout_lost(exc) from None

    def flush(self) -> None:
        """What this task's lines left in the buffer, written; StdoutLost when stdout
        cannot take it, or was dropped (it then goes to /dev/null, a write that
        succeeds)."""
        if not self._pending:
            return
        self._pending = False  # before the flush: a line written meanwhile is flushed next
        try:
            self._out.flush()
        except OSError as exc:
            raise _stdout_lost(exc) from None
        # Looked at after the flush: drop_stdout sets it before stdout is /dev/null.
        lost = stdout_dropped()
        if lost is not None:  # another task's lines met its failure first: said alike
            raise _stdout_lost(lost)


def _stdout_lost(exc: OSError) -> StdoutLost:
    """dstream's stdout failed under the output's lines (`| head` read enough): the run
    stops with the words every command says it in. stdout now goes to /dev/null, so what
    its buffer still holds meets no second failure at the exit and no second line."""
    drop_stdout(exc)
    return StdoutLost(
        STDOUT_GONE if isinstance(exc, BrokenPipeError) else stdout_failed(exc),
        hint="the output writes its lines to dstream's stdout: read them to the end, or "
        "have the task write them to a file (dstream-file)",
    )


class OutputReader:
    """The output's stdout, read on a thread of its own (`read`): its handshake,
    acknowledgements (posted to `acked` for the committer), lines for the user."""

    def __init__(self, run: TaskRun, tracker: CheckpointTracker, acked: Latest) -> None:
        self._run = run
        self._tracker = tracker
        self._acked = acked
        self._output = run.providers()[1]
        # flush_lines: what `commit` calls before a store. A caller's hook (run --json's,
        # the live display's) writes each line at once: nothing of it waits for a flush.
        hook = run.hooks.on_output_line
        self.flush_lines: Callable[[], None] = _nothing_held
        if hook is None:
            printer = StdoutPrinter()
            hook, self.flush_lines = printer, printer.flush
        self._hook: OutputLineHook = hook

    def read(self) -> None:
        run, output = self._run, self._output
        first: Optional[bytes] = None
        number = 0
        try:
            while True:
                # one size limit for every stream: an ack is as long as its frame was
                line = output.read_line(None, run.task.max_frame_size)
                if line is None:
                    break
                number += 1
                if first is None:
                    first = output.first_line = line  # (a warm start compares the next)
                    handshake = self._handshake(line)
                    if handshake is None:
                        return
                    if handshake:
                        continue
                elif output.legacy and number <= OUTPUT_STRAY_WATCH:
                    run.legacy.output_line(number, line, first)  # a banner's ready line?
                self._take(line)
        except DstreamError as exc:
            run.fail(exc)
        except (OSError, ValueError) as exc:
            run.fail(
                ProviderError(
                    f"reading from {output.label} failed: {exc}",
                    hint="its stdout broke off: its own log lines above may say why",
                )
            )
        finally:
            # Nothing reads its stdout from now on (at EOF, or after a failure or a
            # refusal): a write it blocks in fails, so it can exit.
            output.close_stdout()
            run.legacy.output_closed()  # no first line comes now: nothing waits for one
            self._acked.close()

    def _handshake(self, line: bytes) -> Optional[bool]:
        """The output's first line: True when it was its handshake, False when it is
        data (an original output's), None when it fails the run (reading stops)."""
        run, output = self._run, self._output
        try:
            handshake = parse_handshake(line, output.label)
        except ProviderError as exc:  # a ready line refused: as an error status is
            run.fail(exc)
            run.legacy.output_refused()
            return None
        run.output_handshake = handshake
        if logs.log.is_enabled_for(logs.DEBUG):
            logs.log.debug("%s: %s", output.label, handshake.described(), task=run.task.name)
        remember(output.executable, handshake, image_id=output.image_id)
        if handshake.status == "error":
            # The run fails (and the pump stops) before the bridge hears of
            # the refusal: the pump, started after, forwards nothing to it.
            run.fail(
                ProviderRefused(
                    f"{output.label} refused to start: {handshake.message}",
                    role=output.role,
                    provider=output.label,
                    stderr_tail=output.stderr_tail(settle=1.0),
                    hint=REFUSAL_HINT,
                    field=handshake.field,
                )
            )
            run.legacy.output_refused()
            return None
        run.legacy.output_handshake(handshake)
        if not handshake.is_legacy:
            output.features = handshake.features
            return True
        output.legacy = True
        return False

    def _take(self, line: bytes) -> None:
        """An acknowledgement, posted to the committer; anything else is shown."""
        if not line.strip():
            return
        value = parse_ack(line) if is_ack(line) else None
        if value is None:
            run = self._run  # shown to a person: secrets masked
            self._hook(run.task.name, redact_bytes(line), run.task_prefixes)
            return
        acked = self._tracker.acknowledge(value)
        if acked is None:  # the last one again: counted once
            return
        self._acked.post(acked)
        self._run.summary.checkpoints_acknowledged += 1
        self._run.monitor.acknowledged(value)


def _nothing_held() -> None:
    pass


def commit(run: TaskRun, acked: Latest, notices: Latest, flush_lines: Callable[[], None]) -> None:
    """Store the newest acknowledged checkpoint, then tell the input; at most once per
    commit_interval (an output acknowledging thousands a second would otherwise cost
    as many fsyncs), and at once when the stream ends. The output's lines for the user
    are written out first (`flush_lines`): those before the acknowledgement must not
    be lost once the checkpoint that follows them is stored, and a stdout that cannot
    take them fails the run with that checkpoint not stored."""
    task = run.task
    for value in acked.values():
        try:
            flush_lines()  # StdoutLost: a DstreamError, the run's failure as it is
            run.store.put(task.name, value)
            if logs.log.is_enabled_for(logs.DEBUG):  # at every commit: decoded only then
                shown = value.decode("utf-8", "replace")
                logs.log.debug("checkpoint stored: %s", shown, task=task.name)
        except Exception as exc:  # the store's own errors carry their hints
            run.fail(
                exc
                if isinstance(exc, DstreamError)
                else DstreamError(
                    f"could not store the checkpoint of task {task.name!r}: {exc}",
                    hint="check the state backend configured in the state block",
                )
            )
            break
        run.summary.last_checkpoint = value
        run.monitor.stored(value)  # what a summary of a run left behind says is stored
        notices.post(value)
        if task.commit_interval > 0:
            acked.wait_closed(task.commit_interval)
    notices.close()


def notify(run: TaskRun, notices: Latest) -> None:
    """Commit notices to an input that asked for them (contract section 4)."""
    inp = run.providers()[0]
    try:
        for value in notices.values():
            inp.send_notice(encode_json({"committed": Fragment(value)}) + b"\n")
    finally:
        inp.close_commit_channel()  # EOF: no more notices
