"""Evaluated tasks as JSON documents, with secrets hidden unless asked for.

Two rules, both applied by `dstream show` (and usable by any view):
- every value of a `sensitive = true` variable is replaced wherever it appears, also
  inside longer strings (a password inside a DSN);
- values under keys that look like secrets (password, secret, token, key, credential,
  connection string, dsn) are replaced whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dstream.config.model import Project, ProviderSpec, TaskSpec

REDACTED = "***"
_SUBSTRINGS = ("password", "passwd", "secret", "token", "credential", "connectionstring", "connstr")
_KEY_WORDS = {"key", "apikey", "dsn", "pwd"}
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def is_secret_key(key: str) -> bool:
    """password, DB_PASSWORD, apiKey, access_key, connectionString, dsn, ... -> True."""
    flat = re.sub(r"[^a-z0-9]", "", key.lower())
    if any(part in flat for part in _SUBSTRINGS):
        return True
    words = [w.lower() for w in _WORD.findall(key)]
    if not words:
        return False
    # "key" alone or as the last word of a name (api_key, accessKey, private-key), but
    # not routing_key/partition_key-style names that are not secrets.
    last = words[-1]
    if last in _KEY_WORDS and (len(words) == 1 or words[-2] not in _NON_SECRET_KEY_PREFIXES):
        return True
    return flat in _KEY_WORDS


_NON_SECRET_KEY_PREFIXES = {
    "routing",
    "partition",
    "primary",
    "sort",
    "message",
    "row",
    "cache",
    "idempotency",
    "dedup",
    "shard",
    "hash",
    "foreign",
    "unique",
    "group",
}


def redact_value(value: Any, sensitive: Iterable[str], *, under_secret_key: bool = False) -> Any:
    secrets = sorted({s for s in sensitive if s}, key=len, reverse=True)
    return _redact(value, secrets, under_secret_key)


def _redact(value: Any, secrets: list[str], hidden: bool) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, secrets, hidden or is_secret_key(str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item, secrets, hidden) for item in value]
    if hidden and value is not None and not isinstance(value, bool):
        return REDACTED
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and str(value) in secrets:
        return REDACTED
    return value


def provider_document(spec: ProviderSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("provider_path", "provider_ref", "provider_image"):
        if getattr(spec, name):
            out[name] = getattr(spec, name)
    out["config"] = spec.config
    if spec.env:
        out["env"] = spec.env
    return out


def task_document(task: TaskSpec) -> dict[str, Any]:
    """The fully evaluated task, in the shape it is written in dstream.hcl."""
    return {
        "name": task.name,
        "type": task.type,
        "input": provider_document(task.input),
        "output": provider_document(task.output),
        "max_frame_size": task.max_frame_size,
        "invalid_frames": task.invalid_frames,
        "dead_letter_path": task.dead_letter_path,
        "passthrough": not task.validate,
        "start_timeout": task.start_timeout,
        "stop_grace": task.stop_grace,
        "commit_interval": task.commit_interval,
        "restart": {
            "attempts": task.restart.attempts,
            "backoff": task.restart.backoff,
            "max_backoff": task.restart.max_backoff,
        },
        "location": str(task.location) if task.location else None,
    }


def shown_task(project: Project, task: TaskSpec, *, show_secrets: bool = False) -> dict[str, Any]:
    document = task_document(task)
    if show_secrets:
        return document
    redacted: dict[str, Any] = redact_value(document, project.sensitive_values)
    return redacted
