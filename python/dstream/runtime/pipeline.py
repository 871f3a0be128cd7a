"""One run of one task: start both providers, handshake, pump, acknowledge, stop.

Threads, each with one job: the pump (Rust, GIL released), the output's stdout reader
(acknowledgements and lines for the user), the committer (stores the newest
acknowledged checkpoint), the notifier (commit notices to the input) and one stderr
forwarder per provider. The calling thread supervises: it reacts to signals, to a
provider dying, and decides the outcome.
While the pump streams is runtime/streaming.py (the supervisor, the output's reader,
the committer and the notifier), how the run ends runtime/ending.py, how it stops
runtime/stopping.py.
"""

from __future__ import annotations

import os
import threading
import time

from dstream import logs, warm
from dstream.config.model import Project, TaskSpec
from dstream.errors import DstreamError, Interrupted
from dstream.protocol.values import Fragment
from dstream.records import record
from dstream.runtime import ending
from dstream.runtime.checkpoints import CheckpointTracker
from dstream.runtime.legacy import LegacyBridge, acknowledges
from dstream.runtime.mailbox import Latest
from dstream.runtime.monitor import TaskMonitor
from dstream.runtime.process import Prepared, ProviderProcess, prepare_provider, start_providers
from dstream.runtime.result import RunSummary
from dstream.runtime.spawn import ContainerStart
from dstream.runtime.stopping import STOP_MARGIN, Deadline, Stop
from dstream.runtime.streaming import OutputReader, after_stream, commit, notify, supervise
from dstream.runtime.warmplan import Adopted, Started, adopt, remember_run
from dstream.state.base import StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    from dstream._core import Pump, PumpOptions, PumpResult
    from dstream.protocol.messages import Handshake

    # (task, an output's non-ack stdout line, several: the run's task_prefixes, so a
    # line meant for a terminal says its task): the run holds it, no hook works it out.
    OutputLineHook = Callable[[str, bytes, bool], None]

__all__ = ["STOP_MARGIN", "RunHooks", "RunSummary", "Stop", "TaskRun"]


@record
class RunHooks:
    """What the caller wants to see of a run (progress displays, metrics, tests)."""

    on_output_line: Optional[OutputLineHook] = None


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
        # or killed for outliving flush_timeout after the end of the stream (ending.reap).
        self.output_left = False
        # No stop had been acted on when the output left (the supervisor's look at its
        # exit comes before its look at a new stop): a signal after it ends no stream.
        self.left_unasked = False
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
            self.warm.settle(self.stopping)
        else:
            # The task's lock is held: what a dead run's containers left is stale.
            how = ContainerStart(task.start_timeout, self.stopping, owned=True)
            if inp.image or out.image:
                from dstream.runtime.container import engine_address  # only for containers

                self.monitor.waiting = f"waiting on the container engine ({engine_address()})"
            try:
                # The input first: its handshake is the first thing the stream waits for.
                self.input, self.output = start_providers([inp, out], log_sink=sink, containers=how)
            finally:
                self.monitor.waiting = None
        debug = logs.log.is_enabled_for(logs.DEBUG)  # its lines' text built only then
        for proc in (self.input, self.output):
            if debug:
                logs.log.debug("%s started, pid %s", proc.label, proc.pid, task=task.name)
        if self.warm is None or self.warm.pump is None:
            said = self.input.handshake(
                task.start_timeout, limit=task.max_frame_size, stopping=self.stopping
            )
            if debug:
                logs.log.debug("%s: %s", self.input.label, said.described(), task=task.name)
        if "commit-notices" not in self.input.features:
            self.input.close_stdin()
            self.input.close_commit_channel()

    def stopping(self) -> bool:
        """Whether a stop was asked for."""
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
            "legacy_logs": self.providers()[0].legacy,
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

    # -- run -----------------------------------------------------------------------------
    def run(self, state: Optional[bytes]) -> RunSummary:
        started = time.monotonic()
        self.monitor.begin()  # the task is held: a standby is on standby no more
        self.state = state
        pump = self._begin(state)
        self._stream(pump)
        self.summary.duration = time.monotonic() - started
        self.summary.counters = pump.counters().as_dict()
        self.legacy.finish()
        self.monitor.detach(self.summary.outcome)
        self._remember()
        return self.summary

    def _begin(self, state: Optional[bytes]) -> Pump:
        """Start both providers and build the pump (or take the one a warm start began);
        until the pump owns the stream, a failure stops what was started."""
        from dstream import _core

        try:
            self._start(state)
            inp, out = self.providers()
            if self.warm is not None and self.warm.pump is not None:
                pump = self.warm.pump
            else:
                prefix = inp.take_buffered()
                options = self._pump_options(inp.handshake_bytes, inp.child_pid)
                pump = _core.Pump(inp.stdout_fd, out.stdin_fd, options, prefix)
            self.pump = pump
            logs.log.debug("the stream is pumped from %s to %s", inp.label, out.label,
                           task=self.task.name)  # fmt: skip
            # The pump checks the lease's local deadline itself (kept up at every
            # renewal): a holder resumed past it forwards nothing more, before the
            # keeper's watchdog thread gets to run (docs/scaling.md).
            self.store.follow_lease_deadline(self.task.name, pump.set_deadline)
        except Interrupted:  # asked to stop while a provider was starting
            ending.stop_started(self)
            raise
        except BaseException:
            ending.kill_all(self)
            raise
        return pump

    def _stream(self, pump: Pump) -> None:
        """Pump, with the threads beside it, until the stream ends; then end the run."""
        inp, out = self.providers()
        tracker = CheckpointTracker(
            pump.take_checkpoints, pump.acknowledged, out.label, checked=self.task.validate
        )
        self.tracker = tracker
        acked: Latest = Latest()
        notices: Latest = Latest()
        result_box: list[PumpResult] = []
        self.legacy = LegacyBridge(self, pump)  # the pump's legacy switches
        adopted = self.warm if self.warm is not None and self.warm.pump is not None else None
        reader = OutputReader(self, tracker, acked)
        threads = [
            threading.Thread(
                target=lambda: result_box.append(adopted.result() if adopted else pump.run()),
                name="pump",
            ),
            threading.Thread(target=reader.read, name="acks"),
            threading.Thread(
                target=commit, args=(self, acked, notices, reader.flush_lines), name="committer"
            ),
        ]
        if "commit-notices" in inp.features:
            threads.append(threading.Thread(target=notify, args=(self, notices), name="notify"))
        for thread in threads:
            thread.daemon = True
        # The output's handshake, when already written, decides before the first frame
        # whether checkpoint frames reach it.
        threads[1].start()
        if adopted is None:  # (a warm pump began once the output answered as before)
            silent = self.warm is not None and self.warm.output_silent
            self.legacy.await_output_handshake(out, self.stopping, waited_out=silent)
        for thread in (threads[0], *threads[2:]):
            thread.start()
        self.summary.streamed = True  # the pump runs: however quiet, the task streams
        self.monitor.attach(pump, out.label)
        supervise(self, threads[0])
        result = result_box[0] if result_box else None
        after_stream(self, result)
        ending.finish(self, result, threads[1:])

    def _remember(self) -> None:
        """Keep this start for a warm start of the next identical run (runtime/warmplan.py),
        when it started as always and ran: a failed start is not one to repeat."""
        if self.warm is not None or self.summary.outcome == "failed" or self.prepared is None:
            return
        inp, out = self.providers()
        remember_run(
            Started(
                project=self.project, task=self.task, store=self.store,
                input=self.prepared[0], output=self.prepared[1],
                input_handshake=None if inp.legacy else inp.first_line,
                output_handshake=(
                    None if out.legacy or self.output_handshake is None else out.first_line
                ),
                output_acknowledges=(
                    self.output_handshake is not None and acknowledges(self.output_handshake)
                ),
                pump=self.pump_plan, several=self.task_prefixes,
            )
        )  # fmt: skip

    def providers(self) -> tuple[ProviderProcess, ProviderProcess]:
        """(input, output), both started (the run is past _start)."""
        inp, out = self.input, self.output
        assert inp is not None and out is not None
        return inp, out
