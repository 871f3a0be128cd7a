"""What the end of a run means: the pump's result and each provider's exit code turned
into errors (or none). Decisions only: reaping is runtime/ending.py's, stopping
runtime/stopping.py's.

A provider's exit code is its failure unless dstream stopped or killed it. An output
fails also, whatever its code, when it left the stream before its end (what it did not
read is lost to it), and when it declared checkpoints and exited without acknowledging
the last one it was sent (it did not confirm the delivery). A process ended by signal
N reports -N (Popen) or 128 + N (a shell, a container engine), the convention dstream's
own ExitCode.TERMINATED follows.
"""

from __future__ import annotations

import signal

from dstream.config.redact import redact_edges
from dstream.errors import DstreamError, ExitCode, FrameError, Interrupted, ProviderError
from dstream.protocol.frames import RAISE_MAX_FRAME_SIZE
from dstream.protocol.messages import READY
from dstream.records import record
from dstream.runtime.checkpoints import shown
from dstream.runtime.legacy import acknowledges
from dstream.runtime.process import HOST_ENV_HINT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream._core import Outcome, PumpResult
    from dstream.protocol.messages import Handshake
    from dstream.runtime.checkpoints import CheckpointTracker
    from dstream.runtime.process import ProviderProcess, Unread


def _ended_by(sig: signal.Signals) -> tuple[int, int]:
    return (-sig, 128 + sig)


# An input stopped by dstream's SIGTERM.
STOPPED_EXITS = _ended_by(signal.SIGTERM)
# An input whose stream broke (its stdout closed by dstream): it ends on the signal, or
# on EPIPE: SIGPIPE for most programs, ExitCode.FAILURE from the SDK (sdk/run_input.py).
SDK_BROKEN_PIPE_EXIT = ExitCode.FAILURE
BROKEN_STREAM_EXITS = (*STOPPED_EXITS, *_ended_by(signal.SIGPIPE), SDK_BROKEN_PIPE_EXIT)

ROUTE_ASIDE = 'set invalid_frames = "skip" or "dead_letter" in the task to route such frames aside'
INVALID_FRAME_HINT = f"fix the provider, or {ROUTE_ASIDE}"
# A frame longer than max_frame_size may be one the provider means to write.
OVERSIZED_FRAME_HINT = (
    f"fix the provider, {RAISE_MAX_FRAME_SIZE} if its frames are that large, or {ROUTE_ASIDE}"
)


def outcome_of(result: Optional[PumpResult]) -> Outcome:
    """The pump's outcome; a pump that returned nothing (it raised) failed on I/O."""
    return result.outcome if result is not None else "io_error"


def torn_note(result: Optional[PumpResult], *, killed: bool) -> Optional[str]:
    """What to tell the user about a torn last line the pump dropped, if any; `killed`:
    dstream killed the input (it did not stop in time), which is then why it is torn."""
    if result is None or result.torn is None:
        return None
    offset, size = result.torn
    why = "dstream killed the input mid-line" if killed else "the provider crashed"
    return f"torn last line of {size} bytes at offset {offset} discarded ({why})"


def no_checkpoint_note(
    result: Optional[PumpResult], features: frozenset[str], stored: bool
) -> Optional[str]:
    """What to tell the user about an input that declares checkpoints and ended its
    stream without sending one, after data: nothing marks what this run delivered, so
    the next one sends it again (as a Singer target warns of a stream without STATE)."""
    if result is None or "checkpoints" not in features:
        return None
    counters = result.counters
    # Withheld: it sent them, and dstream kept them from an output that cannot take them
    # (coalesced: from one that had not acknowledged the ones before).
    withheld = counters.checkpoints_withheld + counters.checkpoints_coalesced
    if counters.checkpoint_frames or withheld or not counters.data_frames:
        return None
    return (
        "the input declares checkpoints but sent none: "
        + ("the stored checkpoint is unchanged" if stored else "none is stored")
        + ", so the next run sends this run's data again"
    )


def invalid_frame_error(result: PumpResult, inp: ProviderProcess) -> FrameError:
    """The error of a run the pump ended on an invalid frame (policy "fail")."""
    return FrameError(
        f"invalid frame from {inp.label} at offset {result.offset}: {result.message}",
        provider=inp.label,
        offset=result.offset,
        excerpt=_excerpt(result.excerpt or b""),
        hint=OVERSIZED_FRAME_HINT if result.oversized else INVALID_FRAME_HINT,
    )


def _excerpt(raw: bytes) -> str:
    """A bad frame's excerpt, masked; a secret's start at its end too when the pump cut
    it there (an excerpt of EXCERPT_LEN bytes), not in a whole frame that is shorter."""
    from dstream._core import EXCERPT_LEN

    text = raw.decode("utf-8", "replace")
    return redact_edges(text, cut_after=len(raw) >= EXCERPT_LEN)


def pump_failure(result: Optional[PumpResult]) -> DstreamError:
    return DstreamError(
        f"the pump failed: {result and result.message}",
        hint="run again with --log-level debug; if it says nothing more, please report it",
    )


def dead_letter_failure(result: Optional[PumpResult]) -> DstreamError:
    """The dead-letter file could not be written: the run ended before any checkpoint
    after the frames it could not keep was forwarded, so none past them is stored."""
    return DstreamError(
        f"invalid frames could not be dead-lettered: {result and result.message}",
        hint="free space on its file system, or fix dead_letter_path (a regular file in a "
        "directory this user may write); no checkpoint past those frames was stored",
    )


REPLAY_HINT = (
    "the stored checkpoint was not advanced past what it acknowledged, so the next run "
    "sends the data after it again"
)
# A failed run of a task with no checkpoint stored: nothing makes a later run send
# again what this one sent (a change stream's input may start at "now").
NOTHING_STORED_HINT = (
    "no checkpoint is stored for this task, so the next run starts where the input "
    "itself starts: check what reached the output's destination"
)


def replay_hint(stored: bool) -> str:
    """What the next run sends again after a failed one: the data after the stored
    checkpoint, or, with none `stored`, whatever its input starts with."""
    return REPLAY_HINT if stored else NOTHING_STORED_HINT


@record
class OutputEnd:
    """What the pipeline saw of the output's end, for output_exit_error."""

    code: Optional[int]  # its exit code (None: unknown)
    left_early: bool  # it closed its stdin or exited while the stream was still open
    killed: bool  # dstream killed it (its stop deadline, a second interrupt, flush_timeout)
    flush_timeout: Optional[float]  # set when it was killed for outliving it
    stored: bool  # a checkpoint is stored for the task (acknowledged now, or before)
    unread: Optional[Unread] = None  # what it left in its stdin pipe, after a whole stream
    answered: bool = True  # it wrote a first line (a handshake, or an original's output)


def output_exit_error(out: ProviderProcess, end: OutputEnd) -> Optional[ProviderError]:
    """The output failed when it left before the end of the stream (whatever its code:
    what it did not read was lost to it), did not exit within flush_timeout of the end,
    or exited non-zero by itself. Killed at the stop deadline (of a signal, or of a
    stream that broke, whose error is the run's) it did not fail of its own."""
    code = end.code
    tail = out.stderr_tail()
    why = (
        "the output's last stderr lines above may say why"
        if tail
        else "the output wrote nothing on stderr to say why; `dstream provider test` "
        "checks an output against the protocol"
    )
    if end.left_early:
        how = (
            "closed its input before the stream ended"
            if code in (0, None) or end.killed
            else f"{out.ended(code)} before the stream ended"
        )
        if not end.answered and code not in (0, None) and out.host_env_only:
            why += HOST_ENV_HINT  # as for one that ended before its handshake
    elif end.flush_timeout is not None:
        how = (
            f"did not exit within flush_timeout ({end.flush_timeout:g} s) after the end of "
            "the stream: dstream killed it"
        )
        why = "raise flush_timeout in the task if the output needs longer to flush"
    elif end.killed:
        return None
    elif end.unread is not None and end.unread.size:
        how = f"{out.ended(code)} leaving {_unread(end.unread)} of the stream unread"
        why = (
            "an output reads its input to the end before it exits (docs/protocol.md, "
            "section 5): what it left was not delivered"
        )
    elif code in (0, None):
        return None
    else:
        how = f"{out.ended(code)} after the end of the stream"
    return out.exit_error(how, f"{why}; {replay_hint(end.stored)}")


def unread_input_note(label: str, size: Optional[int]) -> Optional[str]:
    """What a run that ended before its input's EOF says of the bytes the input wrote
    after the last one dstream dealt with (`size`, None: unknown): in its stdout pipe,
    or read by the pump and not dealt with, they are lost with the run."""
    if not size:
        return None
    return (
        f"{label}: its last {size:,} bytes were not delivered (written after the last one "
        "dstream dealt with, they were in its stdout pipe or dstream's buffer when the "
        "stream ended)"
    )


def _unread(unread: Unread) -> str:
    """'9 frames (342 bytes)': data and checkpoints; a line it began to read counts, its
    end being unread."""
    noun = "frame" if unread.frames == 1 else "frames"
    return f"{unread.frames} {noun} ({unread.size:,} bytes)"


def unacknowledged(
    handshake: Optional[Handshake], tracker: Optional[CheckpointTracker]
) -> Optional[bytes]:
    """The last checkpoint sent to an output that acknowledges them (runtime/legacy.py)
    when no acknowledgement covers it; None when one does, or when dstream cannot tell
    (an original output, one that wrote no handshake, a passthrough pump)."""
    if handshake is None or tracker is None or handshake.status != READY:
        return None
    return tracker.unacknowledged() if acknowledges(handshake) else None


def unacknowledged_error(out: ProviderProcess, checkpoint: bytes, stored: bool) -> ProviderError:
    """An output that acknowledges checkpoints exited 0 without acknowledging the last
    one it was sent: it never confirmed that the data before it is durable. `stored`: a
    checkpoint is stored for the task, after which the next run sends the rest again."""
    return ProviderError(
        f"{out.label} exited without acknowledging checkpoint {shown(checkpoint)}, the "
        "last one it was sent: it did not confirm that the data before it was delivered",
        provider=out.label,
        stderr_tail=out.stderr_tail(),
        hint="at the end of its input an output makes everything durable and echoes the "
        "checkpoints still pending before it exits 0 (docs/protocol.md, section 5); "
        + replay_hint(stored),
    )


@record
class InputEnd:
    """What the pipeline saw of the input's end, for input_exit_error."""

    outcome: Outcome  # how the pump's stream ended
    code: Optional[int]  # its exit code (None: unknown)
    stopped: bool  # a stop was asked for: its SIGTERM then says so, not that it failed
    killed: bool  # dstream killed it (the stop deadline, a second interrupt, a lingering input)
    delivered: bool  # the output took the whole stream and confirmed it
    stop_grace: float  # the task's, which a lingering input outlived


def input_exit_error(inp: ProviderProcess, end: InputEnd) -> Optional[ProviderError]:
    """The input failed when it exited non-zero for a reason of its own: not by the
    SIGTERM of a stop, nor on the broken pipe of a stream that broke. Killed by dstream,
    it failed only when nobody asked for a stop after it closed its stdout: it did not
    end by itself (docs/protocol.md, section 7). Killed at a stop's deadline, or after a
    stream that broke (whose error is the run's), it did not fail of its own."""
    if end.killed:
        return _lingered(inp, end) if end.outcome == "eof" and not end.stopped else None
    if end.outcome != "eof":
        expected: tuple[int, ...] = BROKEN_STREAM_EXITS
    else:
        expected = STOPPED_EXITS if end.stopped else ()
    if end.code in (0, None) or end.code in expected:
        return None
    return inp.exit_error(
        inp.ended(end.code), "everything it wrote before exiting was delivered; see its stderr"
    )


def _lingered(inp: ProviderProcess, end: InputEnd) -> ProviderError:
    """An input that closed its stdout, ending the stream, and ran on until dstream
    killed it at the deadline that followed (stop_grace after the output's end, unless
    the run failed before)."""
    what = "was delivered" if end.delivered else "was sent to the output"
    return ProviderError(
        f"{inp.label} closed its stdout but did not exit within stop_grace "
        f"({end.stop_grace:g} s): dstream killed it",
        provider=inp.label,
        stderr_tail=inp.stderr_tail(),
        hint=f"everything it wrote {what}; an input ends by exiting once its stdout "
        "is closed (docs/protocol.md, section 7): see its stderr, or raise stop_grace "
        "in the task if it needs longer to exit",
    )


@record
class StopEnd:
    """What a run that was stopped (SIGINT/SIGTERM) delivered, for interrupted()."""

    task: str
    output: str  # the output's label
    stream_ended: bool  # the pump reached the end of the input's stream (outcome "eof")
    output_killed: bool  # dstream killed the output before it exited by itself
    # a second SIGINT/SIGTERM killed what still ran, before stop_grace ran out
    second_signal: bool
    envelopes: int  # data frames written to the output
    acknowledged: Optional[bytes]  # the last checkpoint it acknowledged in this run
    stored: Optional[bytes]  # the checkpoint the next run is given (None: none stored)
    torn: bool  # the input's unfinished last line was discarded (torn_note)


def interrupted(end: StopEnd) -> Interrupted:
    """The outcome of a stopped run that failed of nothing else. It says everything was
    delivered only when the output had the whole stream and exited by itself; an output
    killed before it exited may have lost what it held: a stored checkpoint makes the
    next run send that again; with none, the next run starts where the input starts."""
    head = f"task {end.task!r} was interrupted"
    if end.output_killed:
        if end.acknowledged is not None:
            what = (
                f"the envelopes it was sent after checkpoint {shown(end.acknowledged)}, the "
                "last it acknowledged, may not have been written"
            )
        else:
            n = end.envelopes
            what = f"it may not have written the {n} envelope{'' if n == 1 else 's'} it was sent"
        when = "by a second interrupt" if end.second_signal else "at the stop deadline"
        message = f"{head}; {end.output} was killed {when} before it exited: {what}"
    elif end.stream_ended and end.torn:
        message = f"{head}; every line the input finished was delivered"
    elif end.stream_ended:
        message = f"{head}; everything the input wrote was delivered"
    else:
        message = f"{head} before everything the input wrote could be delivered"
    if end.stored is not None:
        hint = (
            f"run it again: it resumes from checkpoint {shown(end.stored)}, the last one "
            "acknowledged and stored, and what came after it is sent again"
        )
    elif end.output_killed or not end.stream_ended:
        hint = f"{NOTHING_STORED_HINT}; {_more_time(end)}"
    else:
        hint = (
            "no checkpoint is stored for this task: the next run starts where the input "
            "itself starts"
        )
    return Interrupted(message, hint=hint)


class StoppedByFailure(DstreamError):
    """A task `--fail-fast` stopped because another task failed. It did not fail of its
    own and no signal stopped it: its exit code is 1 (its job was not done), never the
    128 + N of a signal that nobody sent."""


def stopped_by_failure(task: str, failed: str, stop: Optional[DstreamError]) -> StoppedByFailure:
    """The outcome of `task`, stopped because task `failed` failed (--fail-fast). `stop`:
    what the stop itself ended with (interrupted(), or a stop before it started), whose
    hint says how the task goes on."""
    then = stop.hint if stop is not None and stop.hint else "run it again once it is fixed"
    return StoppedByFailure(
        f"task {task!r} was stopped because task {failed!r} failed (--fail-fast)",
        hint=f"the error of task {failed!r} says what failed; {then}",
    )


def _more_time(end: StopEnd) -> str:
    """How a next stop gives the output the time to flush that this one did not."""
    if end.second_signal:
        return (
            "a single interrupt gives the output up to stop_grace to flush; a second one "
            "kills it at once"
        )
    return "a longer stop_grace gives the output more time to flush"
