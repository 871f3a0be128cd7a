"""What a run does for the original DStream's providers (issue 18).

- A legacy input (no handshake) may print its log on stdout between its envelopes, as
  the original SQL Server ingester does: the pump counts those lines and hands them
  over (`legacy_logs`), and they are logged here at info level with the input's role.
- An output whose handshake neither speaks dstream's protocol (`"protocol"`) nor
  declares `"checkpoints"` — the original .NET SDK's bare `{"status":"ready"}` — takes
  every line for a message and never acknowledges: it gets envelopes only, and the run
  says once, in the log and in its summary, that it cannot resume. An output that
  writes no handshake at all is not known until it writes, so it is given checkpoints
  as before (one that echoes lines, like `cat`, acknowledges that way).
"""

from __future__ import annotations

import re
import select
import threading

from dstream import logs
from dstream.errors import ProviderError
from dstream.protocol.frames import FEATURE_CHECKPOINTS
from dstream.protocol.messages import READY, Handshake
from dstream.runtime.describe import Description, known
from dstream.runtime.process import wait_unless_stopped

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Protocol, Union

    from dstream._core import Pump
    from dstream.config.model import TaskSpec
    from dstream.runtime.process import ProviderProcess
    from dstream.runtime.result import RunSummary

    class _Run(Protocol):
        """The parts of pipeline.TaskRun used here."""

        task: TaskSpec
        input: Optional[ProviderProcess]
        output: Optional[ProviderProcess]
        summary: RunSummary
        task_prefixes: bool


# The longest wait for an output's handshake that is already on its way (see
# await_output_handshake); a silent output is never waited for.
OUTPUT_HANDSHAKE_WAIT = 5.0
_ANSI = r"\x1b\[[0-9;?]*[ -/]*[@-~]"


def acknowledges(handshake: Union[Handshake, Description]) -> bool:
    """Whether an output that answered `handshake` (or that answered so before, as the
    describe cache says) acknowledges checkpoint frames."""
    return handshake.protocol is not None or FEATURE_CHECKPOINTS in handshake.features


class LegacyBridge:
    def __init__(self, run: _Run, pump: Optional[Pump]) -> None:
        self._run = run
        self._pump = pump
        self._answered = threading.Event()
        self._withholding = False
        self._warned = False

    # -- the output's handshake ----------------------------------------------------
    def output_handshake(self, handshake: Handshake) -> None:
        """Called by the output reader with the output's first line, whatever it was."""
        try:
            if handshake.status == READY and not acknowledges(handshake) and self._pump:
                if self._passing_checkpoints():
                    raise self._unwithheld()
                self._withhold(self._pump)
                if self._input_checkpoints():
                    self._warn()
            elif self._withholding and self._pump:  # the cache said otherwise: it changed
                self._pump.set_forward_checkpoints(True)
                self._withholding = False
        finally:
            self._answered.set()

    def await_output_handshake(self, output: ProviderProcess, stopping: Callable[[], bool]) -> None:
        """Before the pump starts: an output whose first line is already written, and
        one whose answer must be known before the first checkpoint frame (`_must_wait`),
        is waited for (OUTPUT_HANDSHAKE_WAIT at most; the output's exit ends the wait, and
        so does a stop: the pump then drains at once), so that not even that frame
        reaches an output that does not acknowledge."""
        try:
            ready, _, _ = select.select([output.stdout_fd], [], [], 0)
        except (OSError, ValueError):
            return
        if not (ready or self._must_wait(output)):
            return
        if wait_unless_stopped(self._answered.wait, stopping, OUTPUT_HANDSHAKE_WAIT) is False:
            logs.log.debug(
                "task %s: %s did not answer within %g s: it gets checkpoint frames, as an "
                "output that writes no handshake",
                self._run.task.name, output.label, OUTPUT_HANDSHAKE_WAIT,
            )  # fmt: skip

    def _must_wait(self, output: ProviderProcess) -> bool:
        """Whether the pump must wait for `output`'s answer: the input writes checkpoint
        frames and the describe cache does not say what the output does with them. One
        that answered before as an original output (a bare ready line) has them withheld
        from the start instead, unless the pump is a passthrough one, which cannot
        withhold: then its answer, on its way, stops the run (output_handshake). One
        that writes nothing before its input, like `cat`, costs the wait once."""
        if self._pump is None or not self._input_checkpoints():
            return False
        seen = known(output.executable)
        if seen is None or seen.answered is None:
            logs.log.debug(
                "task %s: waiting up to %g s for %s to answer before any checkpoint "
                "frame (dstream has not seen it start)",
                self._run.task.name, OUTPUT_HANDSHAKE_WAIT, output.label,
            )  # fmt: skip
            return True
        if not seen.answered or acknowledges(seen):
            return False  # checkpoint frames are its to have
        if not self._run.task.validate:
            return True
        self._withhold(self._pump)
        return False

    def _withhold(self, pump: Pump) -> None:
        """Checkpoint frames stay in the pump from now on (noted for finish())."""
        pump.set_forward_checkpoints(False)
        self._withholding = True

    def output_closed(self) -> None:
        """Called by the output reader when the output's stdout ends."""
        self._answered.set()

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
            f"{label} does not acknowledge checkpoints (its handshake has no "
            '"protocol"), and passthrough = true cannot hold back the checkpoint frames '
            "of the input: it would take them for messages",
            provider=label,
            hint=f"remove passthrough = true from task {run.task.name!r}: the pump then "
            "gives this output envelopes only",
        )

    # -- a legacy input's log lines ------------------------------------------------
    def forward_logs(self) -> None:
        run, inp = self._run, self._run.input
        if self._pump is None or inp is None or not inp.legacy:
            return
        for raw in self._pump.take_log_lines():
            text = re.sub(_ANSI, "", raw.decode("utf-8", "replace")).strip()
            if text:
                logs.provider_line(run.task.name, "input", text, "info", several=run.task_prefixes)

    # -- the end -------------------------------------------------------------------
    def finish(self) -> None:
        self.forward_logs()
        withheld = self._run.summary.counters.get("checkpoints_withheld", 0)
        if self._withholding and (withheld or self._warned):
            self._run.summary.resumable = False
            self._warn()

    def _warn(self) -> None:
        if self._warned:
            return
        self._warned = True
        run = self._run
        logs.log.warning(
            "task %s: %s does not acknowledge checkpoints (its handshake has no "
            '"protocol"): it gets envelopes only, and resume is not possible for this task',
            run.task.name,
            run.output.label if run.output else "the output",
        )
