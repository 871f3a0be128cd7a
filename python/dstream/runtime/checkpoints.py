"""Matching the output's acknowledgements against the checkpoints the pump forwarded.

A checkpoint is opaque: dstream never parses it into numbers or strings (a JSON layer
rounds `18446744073709551617`, keeps `0.1` of a longer decimal, refuses `1e400`). It
carries the exact bytes of the value from the frame (`Pump.take_checkpoints` hands
out the value of each checkpoint frame once it is queued for the output) to the state
store and back to the input. The output echoes a checkpoint once everything before it
is durable (contract section 5); the echo's value is isolated the same way
(`_core.checkpoint_value`: whitespace around it aside, other members ignored) and must
be byte for byte one that was sent. An echo may skip checkpoints (the later one covers
the earlier), but one that was never sent, or one older than an echo already seen, is
a protocol error: storing it could move the state past data the output never had.

The checkpoints kept here, sent and not yet acknowledged, are at most
_core.MAX_IN_FLIGHT_CHECKPOINTS: each acknowledgement tells the pump how many it covered
(`Pump.acknowledged`), and the pump forwards no more than that many unacknowledged
(it holds the newest of the others back: docs/delivery.md, "Checkpoints in flight").

A passthrough task (`passthrough = true`) is the one exception: its pump forwards the
bytes unframed, so it knows of no checkpoint it sent, and the output's echoes are
stored as they come (but null, which the pump refuses as an invalid frame); the task
gave up that check with the validation.
"""

from __future__ import annotations

import collections

from dstream import _core
from dstream.config.redact import redact_cut
from dstream.errors import ProviderError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

SHOWN = 200  # characters of a checkpoint quoted in a message
NULL = b"null"  # never a checkpoint: "state": null means "start from the beginning"


def is_ack(line: bytes) -> bool:
    """A cheap test before parsing: acks are rare next to the lines a console prints."""
    return line.startswith(b'{"checkpoint"') or (
        line.lstrip().startswith(b"{") and b'"checkpoint"' in line
    )


def parse_ack(line: bytes) -> Optional[bytes]:
    """The checkpoint value of an acknowledgement line (exact bytes), or None when the
    line is not one (the output printed something else)."""
    return _core.checkpoint_value(line)


def shown(value: bytes) -> str:
    """A checkpoint for a message: its text, cut to SHOWN characters."""
    return redact_cut(value.decode("utf-8", "replace"), SHOWN, "...")


class CheckpointTracker:
    def __init__(
        self,
        take_sent: Callable[[], list[bytes]],
        covered: Callable[[int], None],
        output_label: str,
        *,
        checked: bool = True,
    ) -> None:
        """`take_sent`: the checkpoints the pump sent since it was last called;
        `covered(n)`: n more of them are acknowledged; `checked`: echoes must match a
        checkpoint the pump sent (False: passthrough)."""
        self._take_sent = take_sent
        self._covered = covered
        self._checked = checked
        self._pending: collections.deque[bytes] = collections.deque()
        self._label = output_label
        self.acknowledged = 0
        self.last: Optional[bytes] = None

    def acknowledge(self, value: bytes) -> Optional[bytes]:
        """Accept an echo of `value`: it, the newest safe position; None when it is the
        last one again (nothing new, and nothing wrong)."""
        if self._checked:
            if not self._check(value):
                return None
        elif value == NULL:  # the pump refuses such a frame; a passthrough one cannot
            raise ProviderError(
                f"{self._label} acknowledged checkpoint null, which would make the next "
                "run start from the beginning",
                provider=self._label,
                hint='an input never writes {"checkpoint":null} (docs/protocol.md, section '
                "3): fix the input; the stored checkpoint is unchanged",
            )
        self.acknowledged += 1
        self.last = value
        return value

    def _check(self, value: bytes) -> bool:
        """Whether `value` acknowledges a checkpoint sent and not yet acknowledged; False
        for the last one acknowledged, echoed again (an output that writes its echo
        twice: it moves nothing); a ProviderError for anything else."""
        self._pending.extend(self._take_sent())
        skipped = 0
        for candidate in self._pending:
            if candidate == value:
                break
            skipped += 1
        else:
            if value == self.last:
                return False
            raise ProviderError(
                f"{self._label} acknowledged checkpoint {shown(value)} which dstream never "
                "sent to it, or which is older than one it already acknowledged",
                provider=self._label,
                hint='an output must echo each {"checkpoint":...} line it received, '
                "unchanged (byte for byte) and in order, after the data before it is durable",
            )
        for _ in range(skipped + 1):
            self._pending.popleft()
        self._covered(skipped + 1)
        return True

    @property
    def pending(self) -> int:
        return len(self._pending)

    def unacknowledged(self) -> Optional[bytes]:
        """The last checkpoint sent when no acknowledgement covers it, else None (and
        always None unchecked: a passthrough pump knows of none it sent)."""
        if not self._checked:
            return None
        self._pending.extend(self._take_sent())
        return self._pending[-1] if self._pending else None
