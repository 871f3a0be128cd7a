"""Matching the output's acknowledgements against the checkpoints the pump forwarded.

The pump records each checkpoint frame once it has been written to the output
(`Pump.take_checkpoints`); the output echoes a checkpoint once everything before it is
durable (contract section 5). An echo may skip checkpoints (the later one covers the
earlier), but one that was never sent, or one older than an echo already seen, is a
protocol error: storing it could move the state past data the output never had.
"""

from __future__ import annotations

import collections
from typing import Any, Callable

import orjson

from dstream.errors import ProviderError


def is_ack(line: bytes) -> bool:
    """A cheap test before parsing: acks are rare next to the lines a console prints."""
    return line.startswith(b'{"checkpoint"') or (
        line.lstrip().startswith(b"{") and b'"checkpoint"' in line[:64]
    )


class CheckpointTracker:
    def __init__(self, take_sent: Callable[[], list[bytes]], output_label: str) -> None:
        self._take_sent = take_sent
        self._pending: collections.deque[Any] = collections.deque()
        self._label = output_label
        self.acknowledged = 0
        self.last: Any = None

    def parse_ack(self, line: bytes) -> Any:
        """The checkpoint value of an ack line, or raise if the line is not an ack."""
        obj = orjson.loads(line)
        if not isinstance(obj, dict) or set(obj) != {"checkpoint"}:
            raise ValueError("not an acknowledgement")
        return obj["checkpoint"]

    def acknowledge(self, value: Any) -> Any:
        """Accept an echo of `value`; returns it when it is the newest safe position."""
        for raw in self._take_sent():
            self._pending.append(orjson.loads(raw)["checkpoint"])
        skipped = 0
        for candidate in self._pending:
            if candidate == value:
                break
            skipped += 1
        else:
            shown = orjson.dumps(value).decode()[:200]
            raise ProviderError(
                f"{self._label} acknowledged checkpoint {shown} which dstream never sent "
                "to it, or which is older than one it already acknowledged",
                provider=self._label,
                hint='an output must echo each {"checkpoint":...} line it received, '
                "unchanged and in order, after the data before it is durable",
            )
        for _ in range(skipped + 1):
            self._pending.popleft()
        self.acknowledged += 1
        self.last = value
        return value

    @property
    def pending(self) -> int:
        return len(self._pending)
