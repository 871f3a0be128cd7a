"""The values a provider hands to and receives from the host: envelopes, checkpoints and
the pieces of a lifecycle result."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

from dstream.protocol.frames import CHANGE_ACTIONS
from dstream.protocol.messages import LifecycleResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.protocol.values import JsonValue

__all__ = ["Change", "Checkpoint", "Envelope", "LifecycleResult", "Resource"]


class Envelope:
    """One data frame: `{"data": ..., "metadata": {...}}`.

    A slots class because one is built per frame on the output side. `raw` is the frame's
    original line (without the newline) when the host decoded it from stdin, so an output
    can store the envelope exactly as it arrived, extra keys included, without encoding it
    again.
    """

    __slots__ = ("data", "metadata", "raw")

    def __init__(
        self,
        data: Any,  # Any: the provider's own JSON, which its code reads without narrowing
        metadata: Optional[dict[str, object]] = None,
        raw: Optional[bytes] = None,
    ) -> None:
        self.data = data
        self.metadata = metadata
        self.raw = raw

    def to_dict(self) -> dict[str, object]:
        return {"data": self.data, "metadata": self.metadata if self.metadata is not None else {}}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Envelope):
            return NotImplemented
        return self.data == other.data and (self.metadata or {}) == (other.metadata or {})

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dict

    def __repr__(self) -> str:
        return f"Envelope(data={self.data!r}, metadata={self.metadata!r})"


class Checkpoint:
    """An input's position, `{"checkpoint": value}` on the wire. The value is opaque to
    dstream: it comes back unchanged as `self.state` on the next run once an output has
    acknowledged it."""

    __slots__ = ("value",)

    def __init__(self, value: JsonValue) -> None:
        if value is None:  # a bug in the provider: its traceback says where
            raise ValueError(
                "Checkpoint(None): null is the state of a task that starts from the "
                'beginning, not a position (dstream refuses {"checkpoint":null} as an '
                "invalid frame); checkpoint a value that says where to resume"
            )
        # nan and inf, at the top or nested: orjson writes them as null, a position that
        # no longer says where to resume (at the top, a frame dstream refuses). Checked
        # here, once per checkpoint, not per record.
        found = _non_finite(value, "")
        if found is not None:
            where, number = found
            at = f" at {where}" if where else ""
            raise ValueError(
                f"Checkpoint(...): cannot encode the float {number!r}{at} as JSON (JSON has "
                "no such number; orjson would write null); convert it to a finite number "
                "or a string that says where to resume"
            )
        self.value = value

    def to_dict(self) -> dict[str, object]:
        return {"checkpoint": self.value}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Checkpoint):
            return NotImplemented
        return bool(self.value == other.value)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Checkpoint({self.value!r})"


def _non_finite(value: object, path: str) -> Optional[tuple[str, float]]:
    """The path (`['tables'][1]['pos']`) and value of the first nan or infinity in
    `value`'s dicts and lists; None when it has none."""
    if isinstance(value, float):
        return None if abs(value) < float("inf") else (path, value)
    if isinstance(value, dict):
        items: Iterable[tuple[object, object]] = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{path}[{key!r}]")
        if found is not None:
            return found
    return None


class Resource:
    """A piece of infrastructure a provider manages, for `status`/`init` results.

    `problem` says why one that exists cannot be used as it is (a replication slot the
    server invalidated), `hint` what to do about it: on the wire `"usable": false` with
    both (docs/protocol.md section 8), which fails `dstream status`."""

    __slots__ = ("details", "exists", "hint", "name", "problem", "type")

    def __init__(
        self,
        type: str,
        name: str,
        exists: bool,
        details: Optional[dict[str, object]] = None,
        *,
        problem: Optional[str] = None,
        hint: Optional[str] = None,
    ) -> None:
        self.type = type
        self.name = name
        self.exists = exists
        self.details = details if details is not None else {}
        self.problem = problem
        self.hint = hint

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"type": self.type, "name": self.name, "exists": self.exists}
        if self.problem is not None:
            out.update(usable=False, problem=self.problem)
            if self.hint:
                out["hint"] = self.hint
        out["details"] = self.details
        return out

    def __repr__(self) -> str:
        unusable = ", usable=False" if self.problem is not None else ""
        return f"Resource({self.type!r}, {self.name!r}, exists={self.exists!r}{unusable})"


class Change:
    """One planned or applied change, for `plan`/`init`/`destroy` results."""

    __slots__ = ("action", "name", "reason", "type")

    def __init__(self, action: str, type: str, name: str, reason: str = "") -> None:
        if action not in CHANGE_ACTIONS:
            raise ValueError(
                f"change action must be one of {', '.join(CHANGE_ACTIONS)}, got {action!r}"
            )
        self.action = action
        self.type = type
        self.name = name
        self.reason = reason

    def to_dict(self) -> dict[str, object]:
        return {"action": self.action, "type": self.type, "name": self.name, "reason": self.reason}

    def __repr__(self) -> str:
        return f"Change({self.action!r}, {self.type!r}, {self.name!r})"


def result_with(
    status: str = "Success",
    *,
    resources: Optional[list[Resource]] = None,
    changes: Optional[list[Change]] = None,
    metadata: Optional[dict[str, object]] = None,
    message: str = "",
    error: Optional[str] = None,
) -> LifecycleResult:
    """A LifecycleResult from Resource/Change objects (LifecycleResult itself holds dicts)."""
    return LifecycleResult(
        status=status,
        resources=[r.to_dict() for r in resources or []],
        changes=[c.to_dict() for c in changes or []],
        metadata=dict(metadata or {}),
        message=message,
        error=error,
    )
