"""What a run does for the original DStream's providers (issue 18).

- A legacy input (no handshake) may print its log on stdout between its envelopes, as
  the original SQL Server ingester does: the pump counts those lines and hands them
  over (`legacy_logs`), and they are logged here at info level with the input's role.
- A provider of protocol 1 that writes a line on stdout before its handshake (a
  banner) is a legacy input by the contract's rule, since only the first line is read
  as a handshake: its ready line is then delivered to the output as a record. The
  contract keeps that (a later line cannot be told from data for sure), so the run
  warns, once, naming the fix (`is_stray_handshake`, from the frames the pump hands
  over with `take_status_lines`). An output that does so runs as an original output
  (envelopes only), and the run warns so too (`output_line`, from its first lines).
- Checkpoint frames reach only an output known to acknowledge them: one whose handshake
  speaks dstream's protocol (`"protocol"`) or declares `"checkpoints"`. Any other output
  takes every line for a message: the original .NET SDK's bare `{"status":"ready"}`,
  and an output that writes no handshake at all (SDK 0.1.1, a Go output; a `cat` that
  would echo them too). It gets envelopes only, and the run says once, in the log and
  in its summary, that it cannot resume.
- Until the output's first line in this run says which kind it is, the pump withholds
  checkpoint frames: what the describe cache remembers of it (the same executable may
  run another program now, or act on its config) decides only how long it is waited
  for. So that a protocol-1 output does not lose its first checkpoints to that, the
  pump starts, behind an input that may write them, only once the output answered (an
  output the describe cache saw answer is waited for behind any input, up to the
  task's start_timeout; one it remembers acknowledging that writes nothing in that
  time is warned of at once), or after OUTPUT_HANDSHAKE_WAIT: an output that writes
  nothing in that time (it writes only once it has input, or nothing at all) is taken
  for one without a handshake (the run warns at its end, unless the output refused
  meanwhile). It is remembered so once its first line says so or its stdout ends
  without one, so that its next runs do not wait: an output that answers later still
  gets the checkpoints after its answer (the summary notes those it missed, and one
  the cache remembered without a handshake is warned of at once), and one that
  refuses later is no output without a handshake.
- An output that refuses (its first line is an error status, or a ready line dstream
  refuses: a protocol it does not speak) fails the run before the
  bridge hears of it (streaming.OutputReader), so the pump, stopped, forwards nothing to
  it; the refusal is its answer, and the run says nothing else of it: no warning that
  it does not acknowledge checkpoints, no "cannot resume".
"""

from __future__ import annotations

import re
import select
import threading

from dstream import logs
from dstream.config.redact import redact_cut, redact_edges
from dstream.errors import ProviderError, visible
from dstream.protocol.frames import FEATURE_CHECKPOINTS
from dstream.protocol.messages import KEY_PROTOCOL, READY, Handshake, handshake_status
from dstream.protocol.values import decode_json
from dstream.runtime.description import Description, known, remember
from dstream.runtime.process import wait_unless_stopped

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Protocol, Union

    from dstream._core import Pump
    from dstream.config.model import TaskSpec
    from dstream.errors import DstreamError
    from dstream.runtime.process import ProviderProcess
    from dstream.runtime.result import RunSummary

    class _Run(Protocol):
        """The parts of pipeline.TaskRun used here."""

        task: TaskSpec
        input: Optional[ProviderProcess]
        output: Optional[ProviderProcess]
        summary: RunSummary
        task_prefixes: bool

        def fail(self, error: DstreamError) -> None: ...


# The longest wait for the first line of an output dstream has not seen before the pump
# starts (see await_output_handshake): one that writes nothing in that time gets no
# checkpoint until it answers.
OUTPUT_HANDSHAKE_WAIT = 5.0
_ANSI = r"\x1b\[[0-9;?]*[ -/]*[@-~]"
# Why an output gets no checkpoint frames, for the warning.
BARE_READY = 'its handshake has no "protocol"'
# (it wrote nothing, or something else first: a banner may push its ready line down)
NO_HANDSHAKE = "its stdout did not start with a handshake"
# How many of such an output's first stdout lines are looked at for a ready line that a
# banner pushed down (a banner is a line or a few; an original output may echo every
# envelope, which is not read as JSON).
OUTPUT_STRAY_WATCH = 8


def log_stdout_line(
    task: str, role: str, raw: bytes, *, several: bool, total: Optional[int] = None
) -> None:
    """A line a provider wrote on stdout that is its log, not a frame (a legacy input's,
    a line before an original output's lifecycle result): logged at info level as the
    provider's, without a logger's colours (a Go logger's ANSI codes). `total`: the
    line's whole length when it came through the pump, which keeps its first
    LOG_LINE_LEN bytes (max_frame_size of a longer one): a cut line is marked so, and a
    secret's start at its cut end is masked too."""
    text = re.sub(_ANSI, "", raw.decode("utf-8", "replace")).strip()
    if total is not None and total > len(raw):
        text = f"{redact_edges(text, cut_after=True)} ... ({total:,} bytes, cut)"
    if text:
        logs.provider_line(task, role, text, "info", several=several)


def is_stray_handshake(raw: bytes) -> bool:
    """Whether a line a legacy input wrote as data is a protocol-1 ready line: a status
    line (parse_handshake's rule) that is `ready` and names a `protocol`. No provider of
    the original DStream writes one; a provider of this protocol that wrote something
    else on stdout first does."""
    try:
        obj = decode_json(raw)
    except ValueError:
        return False
    return (
        isinstance(obj, dict)
        and handshake_status(obj) == READY
        and KEY_PROTOCOL in obj  # a claim, even null (messages.declared_protocol)
    )


def stray_handshake_warning(label: str, offset: int, raw: bytes, first: Optional[bytes]) -> str:
    """What a run says of such a line (and `dstream provider test`, with its check)."""
    return _stray_warning(
        f"{label} wrote a status line, not data, at stream offset {offset}",
        raw,
        first,
        "a legacy provider and this line is delivered to the output as a record",
    )


def stray_output_handshake_warning(label: str, number: int, raw: bytes, first: bytes) -> str:
    """What a run says of an output's ready line on its stdout line `number` (> 1)."""
    return _stray_warning(
        f"{label} wrote a status line as stdout line {number}",
        raw,
        first,
        "an original output, which gets envelopes only: no checkpoint frames, so resume "
        "is not possible for this task",
    )


def _stray_warning(head: str, raw: bytes, first: Optional[bytes], runs_as: str) -> str:
    before = f" ({shown_line(first)})" if first is not None else ""
    return (
        f"{head} ({shown_line(raw)}): its first stdout line{before} was not its "
        "handshake, and only the first line is read as one (docs/protocol.md, section 2), "
        f"so it runs as {runs_as}; write nothing on stdout before the ready line (logs go "
        "to stderr)"
    )


def shown_line(raw: bytes, limit: int = 80) -> str:
    return repr(redact_cut(raw.decode("utf-8", "replace"), limit, "..."))


def acknowledges(handshake: Union[Handshake, Description]) -> bool:
    """Whether an output that answered `handshake` (or that answered so before, as the
    describe cache says) acknowledges checkpoint frames."""
    return handshake.protocol is not None or FEATURE_CHECKPOINTS in handshake.features


class LegacyBridge:
    def __init__(self, run: _Run, pump: Optional[Pump]) -> None:
        self._run = run
        self._pump = pump
        self._answered = threading.Event()
        self._lock = threading.Lock()  # the output reader and the run decide in turn
        self._acks: Optional[bool] = None  # None: not known yet which kind it is
        self._why = NO_HANDSHAKE  # why it gets no checkpoint frames (when it does not)
        self._closed = False  # its stdout ended
        self._first_line = False  # it wrote one (the reader parsed it as a handshake)
        self._refused = False  # that line was an error status: the run failed with it
        self._waited_out = False  # nothing came within the wait (_wait_for)
        self._seen: Optional[Description] = None  # what the describe cache said of it
        self._withholding = False
        self._late = False  # it acknowledges, and answered after the pump withheld
        self._owed = False  # finish() warns, if it did not answer after all (_decide)
        self._warned = False
        self._stray_warned = False  # a legacy input's ready line (warn_stray_handshake)
        self._stray_output_warned = False  # the output's (output_line)

    # -- the output's kind -------------------------------------------------------------
    def output_handshake(self, handshake: Handshake) -> None:
        """Called by the output reader with the output's first line, unless the run
        failed with it (output_refused). A ProviderError: passthrough cannot withhold
        what this output must not get."""
        self._first_line = True
        try:
            if handshake.status == READY:
                self._decide(acknowledges(handshake), BARE_READY)
            else:
                self._decide(False, NO_HANDSHAKE)
        finally:
            self._answered.set()

    def output_refused(self) -> None:
        """Called by the output reader once the run failed with the output's first line:
        an error status, or a ready line refused (a protocol this dstream does not
        speak). Nothing is to be decided of it: the refusal is its answer."""
        self._first_line = self._refused = True
        self._answered.set()

    def output_line(self, number: int, raw: bytes, first: bytes) -> None:
        """Called by the output reader with stdout line `number` (2 to
        OUTPUT_STRAY_WATCH) of an output whose first line was not a handshake: a ready
        line there was pushed down by a banner (`first`). Warned once; that warning then
        is the run's word on its checkpoints."""
        if not is_stray_handshake(raw):
            return
        with self._lock:
            if self._stray_output_warned:
                return
            # it says what _warn() would (envelopes only, no resume), and why
            self._stray_output_warned = self._warned = True
        run = self._run
        label = run.output.label if run.output else "the output"
        warning = stray_output_handshake_warning(label, number, raw, first)
        logs.log.warning("%s", warning, task=run.task.name)

    def output_closed(self) -> None:
        """Called by the output reader when the output's stdout ends. One that wrote no
        line at all, after the wait ran out, is remembered as an output without a
        handshake (a first line was remembered as what it said)."""
        self._closed = True
        self._answered.set()
        output = self._run.output
        if self._waited_out and not self._first_line and output is not None:
            remember(output.executable, Handshake("legacy"))  # its next runs do not wait

    def await_output_handshake(
        self, output: ProviderProcess, stopping: Callable[[], bool], *, waited_out: bool = False
    ) -> None:
        """Before the pump starts: wait for an output whose first line is already
        written, and for one whose answer must be known before the first checkpoint
        frame (`_wait_for`; its exit ends the wait, and so does a stop: the pump then
        drains at once). Then the pump forwards checkpoint frames only once the output's
        own answer in this run said it acknowledges them: what dstream remembers of it
        decides how long it is waited for, never that it gets them. `waited_out`: a warm
        start waited for it that long already, and no line came."""
        pump = self._pump
        if pump is None:
            return
        try:
            ready, _, _ = select.select([output.stdout_fd], [], [], 0)
        except (OSError, ValueError):
            ready = []
        seen = self._seen = known(output.executable)
        wait = self._wait_for(output, seen)
        answered: Optional[bool] = True
        if waited_out and not self._answered.is_set():
            answered = False
        elif ready or wait:
            answered = wait_unless_stopped(
                self._answered.wait, stopping, wait or OUTPUT_HANDSHAKE_WAIT
            )
        if self._refused:  # the run failed with its refusal, and the pump is stopped
            return
        if answered is False and not self._closed:
            self._waited_out = True  # remembered so once its stdout ends without a line
            self._say_waited_out(output, seen, wait)
        # Gone, or stopping, or unknown and not waited for: nothing is known that
        # passthrough must refuse.
        quiet = self._closed or stopping() or (seen is None and answered is not False)
        try:
            # Until its answer comes (if it did not already decide). One that did not
            # answer yet may still answer, or refuse: finish() warns, unless it did.
            self._decide(False, NO_HANDSHAKE, unless_known=True, quiet=quiet, later=True)
        except ProviderError as exc:
            self._run.fail(exc)

    def _wait_for(self, output: ProviderProcess, seen: Optional[Description]) -> float:
        """How long the pump waits for `output`'s answer (0: not at all): as long as a
        provider's start may take (start_timeout) when the describe cache says it
        answers (a refusal too comes before it reads a frame: the pump then forwards
        none; a slow output, one that answered after the first wait, gets every
        checkpoint so); OUTPUT_HANDSHAKE_WAIT when the input handshook (it may write
        checkpoint frames) and the cache does not say what the output is; not at all for
        one the cache saw write nothing before its input, like `cat`, which so costs the
        wait once."""
        if seen is not None and seen.answered is not None:
            return float(self._run.task.start_timeout) if seen.answered else 0.0
        inp = self._run.input
        if inp is None or inp.legacy:
            return 0.0
        logs.log.debug(
            "waiting up to %g s for %s to answer before any checkpoint frame "
            "(dstream has not seen it start)", OUTPUT_HANDSHAKE_WAIT, output.label,
            task=self._run.task.name,
        )  # fmt: skip
        return OUTPUT_HANDSHAKE_WAIT

    def _say_waited_out(
        self, output: ProviderProcess, seen: Optional[Description], wait: float
    ) -> None:
        """Nothing came from `output` within the wait: what dstream does now. One the
        cache remembers acknowledging is not what it was (a wrapper script that runs
        another program now, a config that changes it): said at the default level."""
        task = self._run.task.name
        if seen is None or not seen.answered or not acknowledges(seen):
            logs.log.debug(
                "%s did not answer within %g s: it gets envelopes only, as an output "
                "that writes no handshake, unless it answers later",
                output.label, wait or OUTPUT_HANDSHAKE_WAIT, task=task,
            )  # fmt: skip
            return
        logs.log.warning(
            "%s answered with a handshake in an earlier run, but wrote nothing within "
            "%g s in this one (its start_timeout): checkpoint frames are withheld from it "
            "until it answers, and if it never does it gets envelopes only, as an output "
            "that writes no handshake, and this task cannot resume; if it only starts "
            "slowly, raise start_timeout in task %r", output.label, wait, task, task=task,
        )  # fmt: skip

    def _decide(
        self,
        acks: bool,
        why: str,
        *,
        unless_known: bool = False,
        quiet: bool = False,
        later: bool = False,
    ) -> None:
        """The output acknowledges checkpoints (`acks`) or not (`why`): the pump forwards
        them or withholds them from now on. `unless_known`: only if its own answer has
        not decided already; `quiet`: nothing is known for sure, so no passthrough error
        and no warning yet (finish() warns if checkpoints were withheld after all);
        `later`: the warning waits for finish(), and comes only if the output did not
        answer meanwhile, nor refused."""
        with self._lock:
            if unless_known and self._acks is not None:
                return
            self._acks, pump = acks, self._pump
            if pump is None:
                return
            if acks:
                if self._withholding:  # it answered after the stream started
                    pump.set_forward_checkpoints(True)
                    self._withholding, self._late = False, True
                    self._say_answered_late()
                return
            self._why = why
            if self._passing_checkpoints() and not quiet:
                raise self._unwithheld()
            self._withhold(pump)
            if self._input_checkpoints() and not quiet:
                if later:
                    self._owed = True
                else:
                    self._warn()

    def _say_answered_late(self) -> None:
        """The output's handshake says it acknowledges, and came after the pump started
        without checkpoint frames. One the describe cache remembered as an output
        without a handshake (so that it was not waited for) is not what it was: said at
        the default level. What it missed, the summary says (finish)."""
        run = self._run
        label = run.output.label if run.output else "the output"
        seen = self._seen
        if seen is not None and seen.answered is False:
            logs.log.warning(
                "%s wrote a handshake that acknowledges checkpoints, though it wrote none "
                "in an earlier run, so the stream started without waiting for it: "
                "checkpoint frames reach it from now on (those before its answer were "
                "withheld), and it is remembered as an output that acknowledges them: the "
                "next run waits for its answer", label, task=run.task.name,
            )  # fmt: skip
        else:
            logs.log.debug(
                "%s answered after the stream started: checkpoint frames reach it from now "
                "on", label, task=run.task.name,
            )  # fmt: skip

    def _withhold(self, pump: Pump) -> None:
        """Checkpoint frames stay in the pump from now on (noted for finish())."""
        pump.set_forward_checkpoints(False)
        self._withholding = True

    def _input_checkpoints(self) -> bool:
        """Whether the input writes checkpoint frames."""
        inp = self._run.input
        return inp is not None and FEATURE_CHECKPOINTS in inp.features

    def _passing_checkpoints(self) -> bool:
        """A passthrough pump, and an input that writes checkpoint frames."""
        return not self._run.task.validate and self._input_checkpoints()

    def _unwithheld(self) -> ProviderError:
        run = self._run
        label = run.output.label if run.output else "the output"
        return ProviderError(
            f"{label} does not acknowledge checkpoints ({self._why}), and passthrough = "
            "true cannot hold back the checkpoint frames of the input: it would take them "
            "for messages",
            provider=label,
            hint=f"remove passthrough = true from task {run.task.name!r}: the pump then "
            "gives this output envelopes only",
        )

    # -- a legacy input's log lines ------------------------------------------------
    def forward_logs(self) -> None:
        run, inp = self._run, self._run.input
        if self._pump is None or inp is None or not inp.legacy:
            return
        for raw, total in self._pump.take_log_lines():
            several = run.task_prefixes
            log_stdout_line(run.task.name, "input", raw, several=several, total=total)
        self._warn_stray_handshake(inp)

    def _warn_stray_handshake(self, inp: ProviderProcess) -> None:
        """Once per run: the input's ready line was delivered as data (module docstring)."""
        assert self._pump is not None
        for offset, raw in self._pump.take_status_lines():
            if self._stray_warned or not is_stray_handshake(raw):
                continue
            self._stray_warned = True
            warning = stray_handshake_warning(inp.label, offset, raw, inp.first_line)
            logs.log.warning("%s", warning, task=self._run.task.name)

    # -- the end -------------------------------------------------------------------
    def finish(self) -> None:
        self.forward_logs()
        if self._refused:  # the refusal is the run's whole story (module docstring),
            self._note_undelivered()  # but for what the input wrote that is now lost
            return
        withheld = self._run.summary.counters.get("checkpoints_withheld", 0)
        if self._withholding and not self._said_no_handshake():
            return  # its checkpoints waited for an answer that never came: nothing to say
        if self._withholding and (withheld or self._warned or self._owed):
            self._run.summary.resumable, self._run.summary.withheld = False, True
            self._warn()
        elif self._late and isinstance(withheld, int) and withheld > 0:
            self._run.summary.notes.append(self._late_note(withheld))

    def _said_no_handshake(self) -> bool:
        """Whether the output showed, in this run, that it writes no handshake: its first
        line was not one that acknowledges, or its stdout ended with nothing once it had
        the whole stream (the run completed), or it wrote nothing, as the describe cache
        remembers it. One that wrote nothing before it crashed or was stopped (a slow
        start) said nothing of its kind: the stored checkpoint stays what it resumes from."""
        seen = self._seen
        return (
            self._first_line
            or self._run.summary.outcome == "completed"
            or (seen is not None and seen.answered is False)
        )

    def _late_note(self, withheld: int) -> str:
        """What the summary says of the checkpoint frames withheld from an output that
        acknowledges them, before its answer: how many, why, and what the next run does."""
        run = self._run
        output, seen, timeout = run.output, self._seen, run.task.start_timeout
        label = output.label if output else "the output"
        container = output is None or output.executable is None  # its answers not kept
        if seen is None:
            why = f"dstream waits {OUTPUT_HANDSHAKE_WAIT:g} s for the first line of " + (
                "a container image" if container else "an output it has not seen answer"
            )
        elif seen.answered is False:
            why = "an earlier run of it wrote no handshake, so dstream did not wait for it"
        else:
            why = f"it answered later than its start_timeout, {timeout:g} s"
        forwarded = run.summary.counters.get("checkpoint_frames", 0)
        if forwarded:
            what = (
                f"{withheld:,} checkpoint frame(s) before its answer were withheld from it, "
                f"and the {forwarded:,} after it reached it"
            )
        elif withheld == 1:
            what = "the checkpoint frame the input wrote was withheld from it"
        else:
            what = f"the {withheld:,} checkpoint frames the input wrote were all withheld from it"
        if container:
            wait = f"waits {OUTPUT_HANDSHAKE_WAIT:g} s for it again"
        else:
            wait = f"waits up to {timeout:g} s (start_timeout) for its answer"
        again = (
            "starts from the stored checkpoint and sends again what this run delivered after it"
            if run.summary.stored_checkpoint is not None
            else "starts from the beginning (no checkpoint is stored) and sends this run's "
            "data again"
        )
        return (
            f"{label} answered only after the stream had started ({why}): {what}; the next "
            f"run {wait}, {again}"
        )

    def _note_undelivered(self) -> None:
        """Frames the pump read before the output refused reached no output. An input
        with checkpoints resumes from the stored one and sends them again; any other
        (an original one records its own position once it wrote a batch) may not: the
        summary says how many, never drops them silently."""
        run, inp = self._run, self._run.input
        if inp is None or FEATURE_CHECKPOINTS in inp.features:
            return
        note = undelivered_note(inp.label, run.summary.counters)
        if note is not None:
            run.summary.notes.append(note)

    def _warn(self) -> None:
        if self._warned:
            return
        self._warned = True
        run = self._run
        logs.log.warning(
            "%s does not acknowledge checkpoints (%s): it gets envelopes only, "
            "and resume is not possible for this task",
            run.output.label if run.output else "the output",
            self._why,
            task=run.task.name,
        )


def undelivered_note(label: str, counters: dict[str, object]) -> Optional[str]:
    """`input 'x': 3 frames (Persons: 3) were read and not delivered: ...`, or None when
    the pump read none (`counters`: the pump's, as_dict())."""
    frames = counters.get("frames")
    if not isinstance(frames, int) or frames <= 0:
        return None
    tables = counters.get("tables")
    counts = ", ".join(
        f"{visible(str(name))}: {count:,}"  # a provider's text
        for name, count in sorted(tables.items() if isinstance(tables, dict) else ())
    )
    noun, verb = ("frame", "was") if frames == 1 else ("frames", "were")
    return (
        f"{label}: {frames:,} {noun}" + (f" ({counts})" if counts else "") + f" {verb} read "
        "and not delivered: the output refused to start; an input that records its own "
        "position may not send them again"
    )
