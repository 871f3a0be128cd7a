"""One run of one task: start both providers, handshake, pump, acknowledge, stop.

Threads, each with one job: the pump (Rust, GIL released), the output's stdout reader
(acknowledgements and lines for the user), the committer (stores the newest
acknowledged checkpoint), the notifier (commit notices to the input) and one stderr
forwarder per provider. The calling thread supervises: it reacts to signals, to a
provider dying, and decides the outcome.
How it stops is runtime/stopping.py.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from dstream import logs, warm
from dstream.config.model import Project, TaskSpec
from dstream.config.redact import redact_bytes
from dstream.errors import DstreamError, Interrupted, ProviderError, ProviderRefused
from dstream.protocol.messages import Handshake, parse_handshake
from dstream.protocol.values import Fragment, encode_json
from dstream.records import record
from dstream.runtime import verdict
from dstream.runtime.checkpoints import CheckpointTracker, is_ack, parse_ack
from dstream.runtime.describe import remember
from dstream.runtime.legacy import LegacyBridge
from dstream.runtime.mailbox import Latest
from dstream.runtime.monitor import TaskMonitor
from dstream.runtime.process import (
    KILL_WAIT,
    REFUSAL_HINT,
    Prepared,
    ProviderProcess,
    prepare_provider,
    start_providers,
)
from dstream.runtime.result import RunSummary
from dstream.runtime.stopping import STOP_MARGIN, Deadline, Stop
from dstream.runtime.warmplan import Adopted, Started, adopt, remember_run
from dstream.state.base import StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    from dstream._core import Outcome, Pump, PumpOptions, PumpResult

__all__ = ["STOP_MARGIN", "RunHooks", "RunSummary", "Stop", "TaskRun"]

SUPERVISE_TICK = 0.1


@record
class RunHooks:
    """What the caller wants to see of a run (progress displays, metrics, tests)."""

    on_output_line: Optional[Callable[[bytes], None]] = None  # non-ack output stdout lines


@record
class RunContext:
    """What a task's run is given: the task and its project, the store of its
    checkpoints, the stop it obeys, and who watches it."""

    project: Project
    task: TaskSpec
    store: StateStore
    stop: Stop
    hooks: RunHooks
    monitor: TaskMonitor
    task_prefixes: bool = False  # several tasks: log lines say which one


def _print_output_line(line: bytes) -> None:
    out = sys.stdout.buffer
    out.write(line + b"\n")
    if sys.stdout.isatty():
        out.flush()


class TaskRun:
    def __init__(self, context: RunContext) -> None:
        task, stop = context.task, context.stop
        self.project, self.task, self.store = context.project, task, context.store
        self.stop, self.hooks, self.monitor = stop, context.hooks, context.monitor
        self.task_prefixes = context.task_prefixes
        self.summary = RunSummary(task=task.name)
        self.errors: list[DstreamError] = []  # first one wins, in the order they happened
        self._lock = threading.Lock()
        self.input: Optional[ProviderProcess] = None
        self.output: Optional[ProviderProcess] = None
        self.pump: Optional[Pump] = None
        self.legacy = LegacyBridge(self, None)
        self.deadline = Deadline(task.name, task.stop_grace, stop)
        self.warm: Optional[Adopted] = None  # what a warm start started (dstream/warm)
        self.prepared: Optional[tuple[Prepared, Prepared]] = None  # (input, output)
        self.pump_plan: dict[str, object] = {}  # the pump's options a warm start repeats
        self.output_handshake: Optional[Handshake] = None
        self.tracker: Optional[CheckpointTracker] = None
        # How the output left: while the stream was open (the supervisor saw it exit),
        # or killed for outliving flush_timeout after the end of the stream.
        self.output_left = False
        self.flush_expired = False
        self.state: Optional[bytes] = None  # the stored checkpoint the run was given

    def fail(self, error: DstreamError) -> None:
        with self._lock:
            self.errors.append(error)
        if self.pump is not None:
            self.pump.stop()

    # -- start ---------------------------------------------------------------------------
    def _start(self, state: Optional[bytes]) -> None:
        task, base = self.task, self.project.base_dir
        sink = self._log_sink
        epoch = self.store.lease_epoch(task.name)  # DSTREAM_EPOCH, for outputs that fence
        # the stored bytes, verbatim: a checkpoint is opaque (runtime/checkpoints.py)
        given = None if state is None else Fragment(state)
        out = prepare_provider(task.output, task=task, command="run", base_dir=base, epoch=epoch)
        inp = prepare_provider(
            task.input, task=task, command="run", state=given, base_dir=base, epoch=epoch
        )
        self.prepared = (inp, out)
        launched = warm.take(task.name)
        if launched is not None:
            self.warm = adopt(launched, inp, out, state, self.store, sink)
        if self.warm is not None:
            self.input, self.output = self.warm.input, self.warm.output
            self.warm.settle(self._stopping)
        else:
            # The input first: its handshake is the first thing the stream waits for.
            self.input, self.output = start_providers([inp, out], log_sink=sink)
        if self.warm is None or self.warm.pump is None:
            self.input.handshake(task.start_timeout, stopping=self._stopping)
        if "commit-notices" not in self.input.features:
            self.input.close_stdin()
            self.input.close_commit_channel()

    def _stopping(self) -> bool:
        return self.stop.requests > 0

    def _log_sink(self, task: str, role: str, text: str) -> None:
        logs.provider_line(task, role, text, None, several=self.task_prefixes)

    def _pump_options(self, start_offset: int, input_pid: Optional[int]) -> PumpOptions:
        from dstream import _core

        dead_letter = self.task.dead_letter_path
        if dead_letter and not os.path.isabs(dead_letter):
            dead_letter = os.path.join(self.project.base_dir, dead_letter)
        if dead_letter:
            directory = os.path.dirname(dead_letter) or "."
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                raise DstreamError(
                    f"task {self.task.name!r}: cannot create the dead-letter directory "
                    f"{directory}: {exc.strerror}",
                    hint="point dead_letter_path at a directory this user may create",
                ) from None
        self.pump_plan = {
            "legacy_logs": self._providers()[0].legacy,
            "max_frame_size": self.task.max_frame_size,
            "policy": self.task.invalid_frames,
            "dead_letter_path": dead_letter,
            "validate": self.task.validate,
        }
        return _core.PumpOptions(
            start_offset=start_offset,
            task=self.task.name,
            input_pid=input_pid,
            **self.pump_plan,  # type: ignore[arg-type]
        )

    # -- threads -------------------------------------------------------------------------
    def _read_output(self, tracker: CheckpointTracker, acked: Latest) -> None:
        """The output's stdout: its handshake, acknowledgements, lines for the user."""
        output = self._providers()[1]
        hook = self.hooks.on_output_line or _print_output_line

        def show(line: bytes) -> None:  # shown to a person: secrets masked
            hook(redact_bytes(line))

        first = True
        try:
            while True:
                # one size limit for every stream: an ack is as long as its frame was
                line = output.read_line(None, self.task.max_frame_size)
                if line is None:
                    break
                if first:
                    first = False
                    handshake = parse_handshake(line, output.label)
                    self.output_handshake = handshake
                    remember(output.executable, handshake)
                    if handshake.is_legacy and self.warm is not None and self.warm.pump is not None:
                        # The pump began before it answered, for a protocol-1 output.
                        self.fail(
                            ProviderError(
                                f"{output.label} answered as an original provider, after a "
                                "warm start that began its stream for a protocol-1 one",
                                provider=output.label,
                                hint=f"run it again; {warm.ENV_WARM}=0 turns warm starts off",
                            )
                        )
                        warm.forget(os.getcwd(), warm.console_args() or [])
                        return
                    if handshake.status == "error":
                        # The run fails (and the pump stops) before the bridge hears of
                        # the refusal: the pump, started after, forwards nothing to it.
                        self.fail(
                            ProviderRefused(
                                f"{output.label} refused to start: {handshake.message}",
                                provider=output.label,
                                stderr_tail=output.stderr_tail(settle=1.0),
                                hint=REFUSAL_HINT,
                            )
                        )
                        self.legacy.output_handshake(handshake)
                        return
                    self.legacy.output_handshake(handshake)
                    if not handshake.is_legacy:
                        output.features = handshake.features
                        continue
                    output.legacy = True
                if not line.strip():
                    continue
                value = parse_ack(line) if is_ack(line) else None
                if value is not None:
                    acked.post(tracker.acknowledge(value))
                    self.summary.checkpoints_acknowledged += 1
                    self.monitor.acknowledged(value)
                else:
                    show(line)
        except DstreamError as exc:
            self.fail(exc)
        except (OSError, ValueError) as exc:
            self.fail(
                ProviderError(
                    f"reading from {output.label} failed: {exc}",
                    hint="its stdout broke off: its own log lines above may say why",
                )
            )
        finally:
            # Nothing reads its stdout from now on (at EOF, or after a failure or a
            # refusal): a write it blocks in fails, so it can exit.
            output.close_stdout()
            self.legacy.output_closed()  # no first line comes now: nothing waits for one
            acked.close()

    def _commit(self, acked: Latest, notices: Latest) -> None:
        """Store the newest acknowledged checkpoint, then tell the input; at most once per
        commit_interval (an output acknowledging thousands a second would otherwise cost
        as many fsyncs), and at once when the stream ends."""
        while True:
            ok, value = acked.take(timeout=1.0)
            if not ok or value is None:
                if acked.closed:
                    break
                continue
            try:
                self.store.put(self.task.name, value)
            except Exception as exc:  # the store's own errors carry their hints
                self.fail(
                    exc
                    if isinstance(exc, DstreamError)
                    else DstreamError(
                        f"could not store the checkpoint of task {self.task.name!r}: {exc}",
                        hint="check the state backend configured in the state block",
                    )
                )
                break
            self.summary.last_checkpoint = value
            self.monitor.stored(value)  # what a summary of a run left behind says is stored
            notices.post(value)
            if self.task.commit_interval > 0:
                acked.wait_closed(self.task.commit_interval)
        notices.close()

    def _notify(self, notices: Latest) -> None:
        """Commit notices to an input that asked for them (contract section 4)."""
        inp = self._providers()[0]
        try:
            while True:
                ok, value = notices.take(timeout=1.0)
                if not ok or value is None:
                    if notices.closed:
                        return
                    continue
                inp.send_notice(encode_json({"committed": Fragment(value)}) + b"\n")
        finally:
            inp.close_commit_channel()  # EOF: no more notices

    # -- run -----------------------------------------------------------------------------
    def run(self, state: Optional[bytes]) -> RunSummary:
        from dstream import _core

        started = time.monotonic()
        self.monitor.begin()  # the task is held: a standby is on standby no more
        self.state = state
        try:  # until the pump owns the stream, a failure stops what was started
            self._start(state)
            inp, out = self._providers()
            warm_pump = self.warm.pump if self.warm is not None else None
            if warm_pump is not None:
                self.pump = pump = warm_pump
            else:
                prefix = inp.take_buffered()
                options = self._pump_options(inp.handshake_bytes, inp.child_pid)
                self.pump = pump = _core.Pump(inp.stdout_fd, out.stdin_fd, options, prefix)
        except Interrupted:  # asked to stop while a provider was starting
            self._stop_started()
            raise
        except BaseException:
            self._kill_all()
            raise
        tracker = CheckpointTracker(pump.take_checkpoints, out.label, checked=self.task.validate)
        self.tracker = tracker
        acked: Latest = Latest()
        notices: Latest = Latest()
        result_box: list[PumpResult] = []
        self.legacy = LegacyBridge(self, pump)  # the pump's legacy switches
        adopted = self.warm if warm_pump is not None else None
        threads = [
            threading.Thread(
                target=lambda: result_box.append(adopted.result() if adopted else pump.run()),
                name="pump",
            ),
            threading.Thread(target=self._read_output, args=(tracker, acked), name="acks"),
            threading.Thread(target=self._commit, args=(acked, notices), name="committer"),
        ]
        if "commit-notices" in inp.features:
            threads.append(threading.Thread(target=self._notify, args=(notices,), name="notify"))
        for thread in threads:
            thread.daemon = True
        # The output's handshake, when already written, decides before the first frame
        # whether checkpoint frames reach it.
        threads[1].start()
        if adopted is None:  # (a warm pump began before it could)
            self.legacy.await_output_handshake(out, self._stopping)
        for thread in (threads[0], *threads[2:]):
            thread.start()
        self.monitor.attach(pump)
        self._supervise(threads[0])
        result = result_box[0] if result_box else None
        self._finish(result, threads[1:])
        self.summary.duration = time.monotonic() - started
        self.summary.counters = pump.counters().as_dict()
        self.legacy.finish()
        self.monitor.detach(self.summary.outcome)
        self._remember()
        return self.summary

    def _remember(self) -> None:
        """Keep this start for a warm start of the next identical run (runtime/warmplan.py),
        when it started as always and ran: a failed start is not one to repeat."""
        if self.warm is not None or self.summary.outcome == "failed" or self.prepared is None:
            return
        inp, out = self._providers()
        remember_run(
            Started(
                project=self.project, task=self.task, store=self.store,
                input=self.prepared[0], output=self.prepared[1],
                input_handshake=None if inp.legacy else inp.first_line,
                output_legacy=out.legacy or self.output_handshake is None,
                pump=self.pump_plan, several=self.task_prefixes,
            )
        )  # fmt: skip

    def _supervise(self, pump_thread: threading.Thread) -> None:
        """Wait for the pump, acting on signals, on a provider that died and on the
        stop deadline."""
        inp, out = self._providers()
        pump = self.pump
        assert pump is not None
        handled = 0
        orphaned: Optional[float] = None  # when the input exited with its stdout still open
        while pump_thread.is_alive():
            pump_thread.join(SUPERVISE_TICK)  # returns the moment the stream ends
            self.legacy.forward_logs()
            if self.stop.requests > handled:
                handled = self.stop.requests
                if handled == 1:
                    # Drain: the input stops, the pump delivers what it still writes.
                    self.deadline.start()
                    inp.terminate()
                self.stop.event.clear()
            if not pump_thread.is_alive():
                break
            self.deadline.check(pump, {"input": inp, "output": out})
            if "input" not in self.deadline.forced and self.deadline.input_due():
                self._cut_input(inp, out, pump)
            if out.poll() is not None and not inp.exited():
                # The output left while the input may still write (the pump may be
                # waiting on an idle input). Once both exited, the pump ends by itself:
                # at EOF when the output had everything, on EPIPE when it had not.
                self.output_left = True
                pump.stop()
            elif orphaned is None and inp.exited():
                orphaned = time.monotonic()
            elif orphaned is not None and time.monotonic() - orphaned >= self.task.stop_grace:
                self._end_orphaned_stream(inp, pump)
                orphaned = float("inf")  # once
        pump_thread.join()

    def _cut_input(self, inp: ProviderProcess, out: ProviderProcess, pump: Pump) -> None:
        """Half the stop's time is gone and the input's stream is still open: the input
        is killed and what it wrote is delivered, so that the output gets its EOF with
        the other half left to flush (it would otherwise be killed with the input, at
        the deadline, before it ever saw the end of its stdin)."""
        left = max(0.0, (self.deadline.at or 0.0) - time.monotonic())
        logs.log.warning(
            "task %s: %s did not stop within half of stop_grace (%g s): killing it; what "
            "it wrote is delivered, and %s has the other half (%.1f s) to flush",
            self.task.name, inp.label, self.task.stop_grace / 2, out.label, left,
        )  # fmt: skip
        self.deadline.forced.add("input")
        inp.kill()
        pump.end_input()

    def _end_orphaned_stream(self, inp: ProviderProcess, pump: Pump) -> None:
        """The input exited stop_grace ago and its stdout is still open: what it started
        holds it. Its group dies with it; one in a session of its own cannot be reached,
        so the pump reads what the pipe holds and ends the stream as at EOF."""
        logs.log.warning(
            "task %s: %s exited %g s ago, but something it started still holds its "
            "stdout open: the stream ends with what the input wrote (stop_grace)",
            self.task.name, inp.label, self.task.stop_grace,
        )  # fmt: skip
        inp.kill_group()
        pump.end_input()

    def _finish(self, result: Optional[PumpResult], threads: list[threading.Thread]) -> None:
        """The stream ended: note what the pump saw, stop and reap both providers, judge
        how they exited and settle the run's outcome."""
        outcome = verdict.outcome_of(result)
        self._note_pump_result(outcome, result)
        in_code, out_code = self._drain(outcome, threads)
        self.summary.exit_codes = {"input": in_code, "output": out_code}
        self._judge_exits(outcome, in_code, out_code)
        self._settle(outcome)

    def _note_pump_result(self, outcome: Outcome, result: Optional[PumpResult]) -> None:
        """A torn last line becomes a note; an invalid frame or a pump failure an error."""
        inp = self._providers()[0]
        note = verdict.torn_note(result)
        if note is not None:
            logs.log.warning("task %s: %s: %s", self.task.name, inp.label, note)
            self.summary.notes.append(note)
        if outcome == "invalid_frame":
            assert result is not None
            self.errors.insert(0, verdict.invalid_frame_error(result, inp))
        elif outcome == "io_error":
            self.errors.append(verdict.pump_failure(result))

    def _drain(
        self, outcome: Outcome, threads: list[threading.Thread]
    ) -> tuple[Optional[int], Optional[int]]:
        """Let the output finish what it got, reap both providers and join the reader
        threads. Returns the (input, output) exit codes."""
        inp, out = self._providers()
        if outcome != "eof":
            # Nothing reads the input any more: SIGTERM says why, and closing its stdout
            # frees a write blocked on the full pipe, so it exits now, not after grace.
            inp.terminate()
            inp.close_stdout()
        # The output gets EOF and finishes: flush, acknowledge, exit 0.
        out.close_stdin()
        # After a clean end the output may take flush_timeout to flush; once stopping
        # was asked for (or the stream broke, or the run failed) it gets stop_grace.
        if outcome == "eof":
            self.monitor.waiting = f"waiting for {out.label} to exit after the end of the stream"
        try:
            out_code = self._reap(out, "output", patient=outcome == "eof")
        finally:
            self.monitor.waiting = None
        in_code = self._reap(inp, "input", patient=False)
        for thread in threads:
            thread.join(timeout=self.deadline.join_time())
        return in_code, out_code

    def _judge_exits(
        self, outcome: Outcome, in_code: Optional[int], out_code: Optional[int]
    ) -> None:
        """A provider's exit code is its failure unless dstream stopped or killed it; an
        output also fails by leaving the stream early or not confirming its end, an input
        by not exiting after it closed its stdout (_input_end_error)."""
        out = self._providers()[1]
        killed = "output" in self.deadline.forced or self.flush_expired
        end = verdict.OutputEnd(
            code=out_code,
            left_early=outcome == "output_closed" or self.output_left,
            killed=killed,
            flush_timeout=self.task.flush_timeout if self.flush_expired else None,
        )
        error = verdict.output_exit_error(out, end)
        if error is None and outcome == "eof" and out_code == 0 and not killed:
            last = verdict.unacknowledged(self.output_handshake, self.tracker)
            if last is not None:
                error = verdict.unacknowledged_error(out, last)
        if error is not None:
            self.errors.append(error)
        error = self._input_end_error(outcome, in_code, delivered=error is None and not killed)
        if error is not None:
            self.errors.append(error)

    def _input_end_error(
        self, outcome: Outcome, code: Optional[int], *, delivered: bool
    ) -> Optional[ProviderError]:
        """The input failed by its exit code (verdict.input_exit_error) unless dstream
        killed it; killed when nobody asked for a stop after it closed its stdout, it did
        not end by itself (docs/protocol.md, section 7). Killed at a stop's deadline, or
        after a stream that broke (whose error is the run's), it did not fail of its own.
        `delivered`: the output took the whole stream and confirmed it."""
        inp = self._providers()[0]
        stopped = self.stop.requests > 0
        if "input" not in self.deadline.forced:
            return verdict.input_exit_error(inp, outcome, code, stopped=stopped)
        if stopped or outcome != "eof":
            return None
        what = "was delivered" if delivered else "was sent to the output"
        return ProviderError(
            f"{inp.label} closed its stdout but did not exit within stop_grace "
            f"({self.task.stop_grace:g} s): dstream killed it",
            provider=inp.label,
            stderr_tail=inp.stderr_tail(),
            hint=f"everything it wrote {what}; an input ends by exiting once its stdout "
            "is closed (docs/protocol.md, section 7): see its stderr, or raise stop_grace "
            "in the task if it needs longer to exit",
        )

    def _settle(self, outcome: Outcome) -> None:
        """Close both providers; the first error, a stop request or nothing: the outcome."""
        inp, out = self._providers()
        inp.close()
        out.close()
        if self.errors:
            self.summary.outcome = "failed"
            self.summary.error = self.errors[0]
        elif self.stop.requests > 0:
            self._interrupted(outcome, out)
        else:
            self.summary.outcome = "completed"

    def _interrupted(self, outcome: Outcome, out: ProviderProcess) -> None:
        """A stopped run: what reached the output, said truthfully (verdict.interrupted);
        with no checkpoint stored it cannot resume, and an output killed before it
        exited is a note of the human summary too."""
        summary = self.summary
        stored = summary.last_checkpoint if summary.last_checkpoint is not None else self.state
        end = verdict.StopEnd(
            task=self.task.name,
            output=out.label,
            stream_ended=outcome == "eof",
            output_killed="output" in self.deadline.forced or self.flush_expired,
            second_signal=self.deadline.second_signal,
            envelopes=int(self.pump.counters().data_frames if self.pump else 0),
            acknowledged=summary.last_checkpoint,
            stored=stored,
        )
        error = verdict.interrupted(end)
        error.exit_code = self.stop.exit_code
        summary.outcome = "interrupted"
        summary.error = error
        if stored is None:
            summary.resumable = False
        if end.output_killed or not end.stream_ended:
            summary.notes.append(f"{error.reason}; {error.hint}")

    def _providers(self) -> tuple[ProviderProcess, ProviderProcess]:
        """(input, output), both started (the run is past _start)."""
        inp, out = self.input, self.output
        assert inp is not None and out is not None
        return inp, out

    def _reap(self, proc: ProviderProcess, role: str, *, patient: bool) -> Optional[int]:
        """Wait for a provider to exit: up to the task's flush_timeout while `patient`
        and neither a stop was asked nor the run failed, else until the stop deadline
        (stop_grace from the first stop request, or from now when the stream broke or
        the run failed); then it is killed with its group. A second interrupt kills at
        once."""
        if not patient:
            self.deadline.start()
        flush_by = time.monotonic() + self.task.flush_timeout
        while True:
            code = proc.wait(SUPERVISE_TICK)
            if code is not None:
                return code
            if patient and self.errors:  # e.g. its stdout broke the rules: no patience
                patient = False
                self.deadline.start()
            if patient and time.monotonic() >= flush_by:
                logs.log.warning(
                    "task %s: %s did not exit within flush_timeout (%g s) after the end "
                    "of the stream, killing it", self.task.name, proc.label,
                    self.task.flush_timeout,
                )  # fmt: skip
                self.flush_expired = True
                proc.kill()
                return proc.wait(KILL_WAIT)
            self.deadline.check(self.pump, {"input": self.input, "output": self.output})
            if role in self.deadline.forced:
                proc.kill()
                return proc.wait(KILL_WAIT)

    def _stop_started(self) -> None:
        """Stop providers that have not begun to stream as a stop asks: the input gets
        SIGTERM, the output EOF; what still runs at the stop deadline is killed."""
        if self.input is not None:
            self.input.terminate()
        if self.output is not None:
            self.output.close_stdin()
        for proc, role in ((self.input, "input"), (self.output, "output")):
            if proc is not None:
                self._reap(proc, role, patient=False)
        # A warm start's thread may still read the input's stdout, on its way to EOF.
        if self.warm is None or self.warm.released(KILL_WAIT):
            for proc in (self.input, self.output):
                if proc is not None:
                    proc.close()

    def _kill_all(self) -> None:
        for proc in (self.input, self.output):
            if proc is not None:
                proc.kill_and_close()
