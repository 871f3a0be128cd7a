"""What the end of a run means: the pump's result and each provider's exit code turned
into errors (or none). Decisions only: stopping and reaping are runtime/pipeline.py's.

A provider's exit code is its failure unless dstream stopped or killed it. A process
ended by signal N reports -N (Popen) or 128 + N (a shell, a container engine), the
convention dstream's own ExitCode.TERMINATED follows.
"""

from __future__ import annotations

import signal

from dstream.errors import DstreamError, ExitCode, FrameError, ProviderError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream._core import Outcome, PumpResult
    from dstream.runtime.process import ProviderProcess


def _ended_by(sig: signal.Signals) -> tuple[int, int]:
    return (-sig, 128 + sig)


# An input stopped by dstream's SIGTERM.
STOPPED_EXITS = _ended_by(signal.SIGTERM)
# An input whose stream broke (its stdout closed by dstream): it ends on the signal, or
# on EPIPE: SIGPIPE for most programs, ExitCode.FAILURE from the SDK (sdk/run_input.py).
SDK_BROKEN_PIPE_EXIT = ExitCode.FAILURE
BROKEN_STREAM_EXITS = (*STOPPED_EXITS, *_ended_by(signal.SIGPIPE), SDK_BROKEN_PIPE_EXIT)

INVALID_FRAME_HINT = (
    'fix the provider, or set invalid_frames = "skip" or "dead_letter" in the task to '
    "route such frames aside"
)


def outcome_of(result: Optional[PumpResult]) -> Outcome:
    """The pump's outcome; a pump that returned nothing (it raised) failed on I/O."""
    return result.outcome if result is not None else "io_error"


def torn_note(result: Optional[PumpResult]) -> Optional[str]:
    """What to tell the user about a torn last line the pump dropped, if any."""
    if result is None or result.torn is None:
        return None
    offset, size = result.torn
    return f"torn last line of {size} bytes at offset {offset} discarded (the provider crashed)"


def invalid_frame_error(result: PumpResult, inp: ProviderProcess) -> FrameError:
    """The error of a run the pump ended on an invalid frame (policy "fail")."""
    return FrameError(
        f"invalid frame from {inp.label} at offset {result.offset}: {result.message}",
        provider=inp.label,
        offset=result.offset,
        excerpt=(result.excerpt or b"").decode("utf-8", "replace"),
        hint=INVALID_FRAME_HINT,
    )


def pump_failure(result: Optional[PumpResult]) -> DstreamError:
    return DstreamError(
        f"the pump failed: {result and result.message}",
        hint="run again with --log-level debug; if it says nothing more, please report it",
    )


def output_exit_error(
    out: ProviderProcess, outcome: Outcome, code: Optional[int]
) -> Optional[ProviderError]:
    """The output failed when it exited non-zero or closed its stdin before the end."""
    if code in (0, None) and outcome != "output_closed":
        return None
    return ProviderError(
        f"{out.label} exited with code {code} while receiving the stream"
        if code
        else f"{out.label} closed its input before the stream ended",
        provider=out.label,
        stderr_tail=out.stderr_tail(),
        hint="the output's stderr above says why; the stored checkpoint was not "
        "advanced past what it acknowledged, so a new run resumes safely",
    )


def input_exit_error(
    inp: ProviderProcess, outcome: Outcome, code: Optional[int], *, stopped: bool
) -> Optional[ProviderError]:
    """The input failed when it exited non-zero for a reason of its own: not by the
    SIGTERM of a stop (`stopped`), nor on the broken pipe of a stream that broke."""
    if outcome != "eof":
        expected: tuple[int, ...] = BROKEN_STREAM_EXITS
    else:
        expected = STOPPED_EXITS if stopped else ()
    if code in (0, None) or code in expected:
        return None
    return ProviderError(
        f"{inp.label} exited with code {code}",
        provider=inp.label,
        stderr_tail=inp.stderr_tail(),
        hint="everything it wrote before exiting was delivered; see its stderr",
    )
