"""The shapes of protocol 1, checked one line at a time. Each function returns None when
the line is right, or a sentence saying what is wrong and what dstream would do."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Optional

import orjson

from dstream import _core
from dstream.errors import ProviderError
from dstream.kit.harness import TASK
from dstream.protocol.frames import (
    FEATURE_CHECKPOINTS,
    FEATURE_COMMIT_NOTICES,
    FEATURE_LIFECYCLE,
    KEY_DATA,
    KEY_METADATA,
)
from dstream.protocol.messages import LIFECYCLE_STATUSES, READY, change_problem, declared_protocol
from dstream.protocol.values import json_kind

# A parsed provider line.
Obj = dict[str, Any]  # Any: checked key by key, by the checks that read it

KNOWN_FEATURES = (FEATURE_CHECKPOINTS, FEATURE_COMMIT_NOTICES, FEATURE_LIFECYCLE)


def excerpt(raw: bytes, limit: int = 80) -> str:
    text = raw[:limit].decode("utf-8", "replace")
    return repr(text + ("..." if len(raw) > limit else ""))


def parse_object(raw: bytes) -> tuple[Optional[Obj], Optional[str]]:
    """(object, None) or (None, why it is not a JSON object)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (byte {exc.start})"
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, f"not JSON ({exc})"
    if not isinstance(value, dict):
        return None, f"{json_kind(value)}, not an object"
    return value, None


def is_log_line(raw: bytes) -> bool:
    """A legacy input's stdout line that dstream logs instead of reading it as a frame:
    one whose first byte but whitespace is not `{` (the pump's rule, rejects.rs
    is_log_line; docs/protocol.md, section 2). Blank lines are neither."""
    text = raw.lstrip()
    return bool(text) and not text.startswith(b"{")


def handshake_problem(obj: Obj) -> Optional[str]:
    """For a status line (probe.status_object): what keeps it from being a valid
    handshake. Keys dstream does not read are ignored there, as the original did."""
    status = obj.get("status")
    if status == READY:
        try:
            declared_protocol(obj, "it")  # as dstream run reads it, word for word
        except ProviderError as exc:
            return exc.one_line()
    features = obj.get("features")
    if features is not None and (
        not isinstance(features, list) or not all(isinstance(f, str) for f in features)
    ):
        return '"features" must be a list of strings, e.g. ["checkpoints"]'
    if status == "error" and not str(obj.get("message") or "").strip():
        return 'an error status needs a "message" saying what is wrong'
    return None


def frame_verdict(raw: bytes, max_size: int) -> tuple[Optional[str], bool]:
    """How a run takes a frame an input wrote (contract section 3): (None, whether it is
    a checkpoint) when valid, else (what is wrong, False). Validity and kind are the
    pump's own (pumped_frame), so the kit and a run cannot disagree; on top of them the
    kit asks for the envelope's shape, which a run lets pass as data."""
    problem, checkpoint = pumped_frame(raw, max_size)
    if problem is not None or checkpoint:
        return problem, checkpoint
    obj, _ = parse_object(raw)
    if obj is None or KEY_DATA not in obj:
        return (
            'an object with neither "data" nor "checkpoint": write envelopes as '
            '{"data":...,"metadata":{...}}'
        ), False
    metadata = obj.get(KEY_METADATA)
    if metadata is not None and not isinstance(metadata, dict):
        return f'"metadata" must be an object, got {json_kind(metadata)}', False
    return None, False


def frame_problem(raw: bytes, max_size: int) -> Optional[str]:
    """What is wrong with a frame an input wrote (frame_verdict), None when nothing."""
    return frame_verdict(raw, max_size)[0]


def pumped_frame(raw: bytes, max_size: int) -> tuple[Optional[str], bool]:
    """`raw` (one line, no newline) through the Rust pump dstream runs every input's
    stream with, policy "fail": (its message, False) for an invalid frame, else (None,
    whether the pump counted a checkpoint). _core exposes its validator only as the pump,
    so the line is pumped from a file to the null device."""
    options = _core.PumpOptions(
        max_frame_size=max_size,
        count_tables=False,
        task=TASK,
        pipe_size=0,
        zero_copy=False,
        batch_scheduling=False,
    )
    with tempfile.TemporaryFile() as source, open(os.devnull, "wb") as sink:
        source.write(raw + b"\n")
        source.flush()
        source.seek(0)
        result = _core.Pump(source.fileno(), sink.fileno(), options).run()
    if result.outcome == "eof":
        return None, result.counters.checkpoint_frames > 0
    return result.message or f"refused by the pump ({result.outcome})", False


def lifecycle_problem(obj: Obj) -> Optional[str]:
    """What is wrong with a lifecycle result line (contract section 8)."""
    if obj.get("status") not in LIFECYCLE_STATUSES:
        return f'"status" is {obj.get("status")!r}; one of {", ".join(LIFECYCLE_STATUSES)}'
    for key in ("resources", "changes"):
        if key in obj and not isinstance(obj[key], list):
            return f'"{key}" must be a list'
    for n, resource in enumerate(obj.get("resources") or []):
        if not isinstance(resource, dict):
            return f"resources[{n}] is not an object"
        missing = [k for k in ("type", "name") if not isinstance(resource.get(k), str)]
        if missing:
            return f"resources[{n}] lacks string {', '.join(missing)}"
        if "exists" in resource and not isinstance(resource["exists"], bool):
            return f'resources[{n}]."exists" must be true or false'
    for n, change in enumerate(obj.get("changes") or []):
        problem = change_problem(change)
        if problem is not None:
            return f"changes[{n}]: a change {problem}"
        # Stricter than the runtime (which shows a change without them): a provider
        # under test writes the whole shape of section 8.
        if not isinstance(change.get("name"), str) or not isinstance(change.get("type"), str):
            return f"changes[{n}] lacks string type and name"
    if "metadata" in obj and obj["metadata"] is not None and not isinstance(obj["metadata"], dict):
        return '"metadata" must be an object'
    return None
