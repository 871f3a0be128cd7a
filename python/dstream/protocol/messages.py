"""Control messages of protocol 1: the command line, the handshake status line and the
lifecycle result. Shared by the runtime (dstream's side) and the SDK (provider's side)
so both ends read and write the same shapes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dstream.errors import ProviderError, ProviderRefused
from dstream.protocol.frames import (
    CHANGE_ACTIONS,
    KEY_CHECKPOINT,
    KEY_DATA,
    KEY_STATUS,
    PROTOCOL_VERSION,
    ROLES,
)
from dstream.protocol.values import as_text, decode_json, encode_json, json_kind
from dstream.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    from dstream.protocol.values import JsonObject, JsonValue

READY = "ready"
ERROR = "error"
LIFECYCLE_STATUSES = ("Success", "Failed", "Unknown")
# A plan result's metadata key: the resources the provider keeps (they hold data) where
# the command would remove them: a list of why and what to do, one per resource, or
# their count as earlier providers send it (docs/protocol.md).
KEPT = "kept"
KEY_MESSAGE = "message"
KEY_CONFIG_SCHEMA = "config_schema"
KEY_ROLE = "role"
KEY_PROTOCOL = "protocol"
# An error status line's config key its refusal is about (`"field":"tables"`): dstream
# shows the refusal at that key's dstream.hcl:LINE:COL (docs/protocol.md, section 2).
KEY_FIELD = "field"
# A status line is read as the original DStream read it (Go's json.Unmarshal into
# {Status, Message}): keys it does not know are ignored, `status` and `message` match
# whatever their case. Only these two statuses make a first line a handshake; a line
# with a frame's key (`data`, `checkpoint`) is a frame, whatever else it holds.
HANDSHAKE_STATUSES = (READY, ERROR)
FRAME_KEYS = frozenset({KEY_DATA, KEY_CHECKPOINT})


def command_line(
    command: str,
    config: Mapping[str, object],
    *,
    task: str,
    role: str,
    state: object = None,
    destroy: bool = False,
) -> bytes:
    """The single line dstream writes to a provider's stdin at start. `config` and
    `state` are whatever JSON values the caller holds (object: the encoder checks them;
    integers of any size are sent exactly); `destroy` (on `plan` only:
    `dstream plan --destroy`) is sent only when true."""
    envelope = {
        "command": command,
        "config": config,
        "protocol": PROTOCOL_VERSION,
        "task": task,
        "role": role,
        "state": state,
    }
    if destroy:
        envelope["destroy"] = True
    return encode_json(envelope) + b"\n"


@record
class Command:
    """What a provider reads from its first stdin line."""

    command: str = "run"
    config: JsonObject = field(default_factory=dict)
    protocol: int = PROTOCOL_VERSION
    task: Optional[str] = None
    role: Optional[str] = None
    state: JsonValue = None
    destroy: bool = False  # `plan` of what `destroy` would remove

    @classmethod
    def parse(cls, line: bytes) -> Command:
        """Parse a command line; a bare config object (the original's style) is `run`.
        Its integers stay exact whatever their size (the config may hold 2**64 + 1)."""
        obj = decode_json(line)
        if not isinstance(obj, dict):
            raise ValueError("the command line must be a JSON object")
        if "command" not in obj and "config" not in obj:
            # The original DStream wrote the config object alone.
            return cls(config=obj)
        config = obj.get("config") or {}
        if not isinstance(config, dict):
            raise ValueError('"config" must be a JSON object')
        protocol = obj.get("protocol") or PROTOCOL_VERSION
        if not isinstance(protocol, (int, float, str)):
            raise ValueError('"protocol" must be a number')
        task, role = obj.get("task"), obj.get("role")
        return cls(
            command=str(obj.get("command") or "run"),
            config=config,
            protocol=int(protocol),
            task=task if isinstance(task, str) else None,
            role=role if isinstance(role, str) else None,
            state=obj.get("state"),
            destroy=obj.get("destroy") is True,
        )


@record
class Handshake:
    """A provider's first stdout line, interpreted."""

    status: str  # "ready", "error" or "legacy"
    features: frozenset[str] = frozenset()
    protocol: Optional[int] = None
    message: Optional[str] = None
    # The JSON Schema of the provider's `config` object, when it describes one.
    config_schema: Optional[JsonObject] = None
    role: Optional[str] = None  # "input" or "output", when a describe answer names it
    field: Optional[str] = None  # an error line's config key it is about (KEY_FIELD)

    def described(self) -> str:
        """What the handshake said, for --log-level debug."""
        if self.status == "legacy":
            return "no handshake (an original provider: its first line is data)"
        features = ", ".join(sorted(self.features)) or "none"
        return f"{self.status}, protocol {self.protocol or 'not named'}, features: {features}"

    @property
    def is_legacy(self) -> bool:
        return self.status == "legacy"


def parse_handshake(line: bytes, provider: Optional[str] = None) -> Handshake:
    """Classify a first stdout line. A JSON object whose `status` (any case) is exactly
    "ready" or "error" is a status line, whatever other keys it has; anything else marks
    a legacy provider, whose first line is then data. A ready line whose `features` is
    not a list of names, or whose `protocol` is not a number, breaks the contract, and
    one naming a protocol other than PROTOCOL_VERSION is one dstream cannot speak:
    ProviderRefused naming `provider` (starting it again gets the same answer)."""
    try:
        obj = decode_json(line)
    except ValueError:
        return Handshake("legacy")
    if not isinstance(obj, dict) or (status := handshake_status(obj)) is None:
        return Handshake("legacy")
    if status == READY:
        features = obj.get("features")
        if features is None:
            features = []
        if not isinstance(features, list):
            raise ProviderError(
                f'{provider or "the provider"} sent a ready line whose "features" is '
                f"{json_kind(features)}, not a list",
                provider=provider,
                hint='the handshake is {"status":"ready","features":["checkpoints", ...]}; '
                "fix the provider",
            )
        schema = obj.get(KEY_CONFIG_SCHEMA)
        return Handshake(
            READY,
            features=frozenset(str(f) for f in features if isinstance(f, str)),
            protocol=declared_protocol(obj, provider or "the provider"),
            config_schema=schema if isinstance(schema, dict) else None,
            role=role if (role := obj.get(KEY_ROLE)) in ROLES else None,
        )
    about = obj.get(KEY_FIELD)
    return Handshake(
        ERROR,
        message=as_text(folded(obj, KEY_MESSAGE) or "no message given"),
        field=about if isinstance(about, str) and about else None,
    )


def handshake_status(obj: JsonObject) -> Optional[str]:
    """READY or ERROR when `obj` is a status line (see parse_handshake), else None: a
    legacy provider's data."""
    if not FRAME_KEYS.isdisjoint(obj):
        return None
    status = folded(obj, KEY_STATUS)
    return status if isinstance(status, str) and status in HANDSHAKE_STATUSES else None


def folded(obj: JsonObject, key: str) -> JsonValue:
    """The value of `key` in `obj` matched regardless of case, as Go's encoding/json
    matches a struct field; of several such keys the last one wins, as there."""
    found: JsonValue = None
    for name, value in obj.items():
        if name.casefold() == key:
            found = value
    return found


def declared_protocol(obj: JsonObject, provider: str) -> Optional[int]:
    """The protocol a ready line `obj` declares (`1`, or `1.0`: whatever the provider's
    encoder wrote; None when it has no `protocol`, as an original provider's bare ready
    line), refused unless this dstream speaks it. A `protocol` that is there is a claim:
    null is no number (no original provider writes one), so it is refused too. The
    runtime (parse_handshake) and the kit (kit/validate.py) read it here alike."""
    if KEY_PROTOCOL not in obj:
        return None
    value = obj[KEY_PROTOCOL]
    number = _number(value)
    if number is None:
        raise ProviderRefused(
            f'{provider} sent a ready line whose "protocol" is {encode_json(value).decode()}, '
            "not a protocol number",
            provider=provider,
            hint=f'the handshake is {{"status":"ready","protocol":{PROTOCOL_VERSION}}} (or '
            'leave "protocol" out, as an original provider does); fix the provider',
        )
    if number != PROTOCOL_VERSION:
        raise ProviderRefused(
            f"{provider} speaks protocol {number}; this dstream speaks protocol "
            f"{PROTOCOL_VERSION} only",
            provider=provider,
            hint=f"upgrade dstream to a version that speaks protocol {number}, or use a "
            f"version of the provider written for protocol {PROTOCOL_VERSION}",
        )
    return number


def _number(value: JsonValue) -> Optional[int]:
    """A whole number (`1` or `1.0`), else None (a bool, a string, 1.5, NaN, inf)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None  # not NaN, not 1e400's inf
    return value if isinstance(value, int) else None


def ready_line(
    features: tuple[str, ...] = (),
    config_schema: Optional[JsonObject] = None,
    role: Optional[str] = None,
) -> bytes:
    """A ready handshake; `config_schema` and `role` only in a describe probe's answer."""
    obj: JsonObject = {"status": READY, "protocol": PROTOCOL_VERSION}
    if features:
        obj["features"] = list(features)
    if config_schema is not None:
        obj[KEY_CONFIG_SCHEMA] = config_schema
    if role:
        obj[KEY_ROLE] = role
    return encode_json(obj) + b"\n"


def error_line(message: str, field: Optional[str] = None) -> bytes:
    """An error status line; `field`: the config key it is about (KEY_FIELD)."""
    line: dict[str, str] = {"status": ERROR, "message": message}
    if field:
        line[KEY_FIELD] = field
    return encode_json(line) + b"\n"


@record
class LifecycleResult:
    """The one result line a provider writes for init/plan/status/destroy."""

    status: str = "Success"
    # Any: objects by the contract, bare strings from the original's providers; the
    # readers (runtime/lifecycle.py, cli/lifecycle_view.py) narrow each entry.
    resources: list[Any] = field(default_factory=list)
    changes: list[Any] = field(default_factory=list)  # Any: as resources
    metadata: dict[str, object] = field(default_factory=dict)  # passed through as JSON
    message: str = ""
    error: Optional[str] = None

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "resources": self.resources,
            "changes": self.changes,
            "metadata": self.metadata,
            "message": self.message,
            "error": self.error,
        }

    def to_line(self) -> bytes:
        return encode_json(self.to_dict()) + b"\n"

    @classmethod
    def parse(cls, line: bytes) -> LifecycleResult:
        """A result line read as the original DStream read it (Go's json.Unmarshal): keys
        and the status match whatever their case (a .NET provider on System.Text.Json's
        defaults writes "Status"). Raises ValueError: not JSON, or not a result."""
        obj = decode_json(line)
        status = folded(obj, KEY_STATUS) if isinstance(obj, dict) else None
        known = _lifecycle_status(status)
        if not isinstance(obj, dict) or known is None:
            raise ValueError(
                "a lifecycle result must be a JSON object whose status is one of "
                + ", ".join(LIFECYCLE_STATUSES)
            )
        metadata, error = folded(obj, "metadata"), folded(obj, "error")
        return cls(
            status=known,
            resources=_as_list(folded(obj, "resources")),
            changes=_as_list(folded(obj, "changes")),
            metadata=dict(metadata) if isinstance(metadata, dict) else {},
            message=str(folded(obj, KEY_MESSAGE) or ""),
            error=None if error is None else str(error),
        )


def change_problem(change: object, quote: Callable[[object], str] = repr) -> Optional[str]:
    """What makes an entry of a result's `changes` no change (docs/protocol.md section 8:
    not an object, or an action none of CHANGE_ACTIONS), to follow "a change"; None for
    a change. Its `type` and `name` are not required here: the views show a change
    without them, and only kit/validate.py holds a provider under test to them. `quote`
    shows the provider's action (the runtime's masks and cuts it: it is the provider's
    data)."""
    allowed = ", ".join(CHANGE_ACTIONS)
    if not isinstance(change, dict):
        return f"that is not an object (its action must be one of {allowed})"
    action = change.get("action")
    if action not in CHANGE_ACTIONS:
        return f"with the action {quote(action)}, which is none of {allowed}"
    return None


def _lifecycle_status(value: JsonValue) -> Optional[str]:
    """The status of LIFECYCLE_STATUSES that `value` names, whatever its case; else None."""
    if not isinstance(value, str):
        return None
    return next((s for s in LIFECYCLE_STATUSES if s.casefold() == value.casefold()), None)


def _as_list(value: JsonValue) -> list[Any]:  # Any: as LifecycleResult.resources
    """A result's list of resources or changes; a single entry given bare is one."""
    if isinstance(value, list):
        return list(value)
    return [] if value is None or value == "" else [value]
