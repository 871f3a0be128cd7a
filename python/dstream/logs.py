"""The one logging setup of dstream: levels, text or JSON, redaction, provider lines.

`--log-level` / `DSTREAM_LOG_LEVEL` and `--log-format text|json` / `DSTREAM_LOG_FORMAT`
apply to dstream's own messages and to every provider's stderr line, which is
re-emitted with its task and role (JSON records from providers keep their level and
fields). Nothing secret reaches the log: each formatted record passes through the
redactor (dstream.config.redact) in the handler's formatter, its one way out, whatever
its level, its format, or whether the text came from dstream or a provider.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Optional

import orjson

from dstream.config.redact import redact_data, redact_text, remember_environment

LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "critical": logging.CRITICAL,
}
FORMATS = ("text", "json")
log = logging.getLogger("dstream")
_provider_log = logging.getLogger("dstream.provider")
_level: Optional[str] = None  # as given to setup


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        source = getattr(record, "source", None)
        level = record.levelname.lower()
        tag = "" if level == "info" else f"[{level}] "
        prefix = f"{source}: " if source else "dstream: "
        fields = getattr(record, "fields", None)
        extra = " " + " ".join(f"{k}={v}" for k, v in fields.items()) if fields else ""
        return redact_text(f"{prefix}{tag}{record.getMessage()}{extra}")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        for key in ("task", "role"):
            value = getattr(record, key, None)
            if value:
                out[key] = value
        out.update(getattr(record, "fields", None) or {})
        # Structurally, so the record stays valid JSON whatever a secret's characters.
        return orjson.dumps(redact_data(out), default=str).decode()


def setup(level: Optional[str] = None, fmt: Optional[str] = None) -> None:
    """Configure once per process; flags win over the environment."""
    from dstream.errors import UsageError

    level = (level or os.environ.get("DSTREAM_LOG_LEVEL") or "info").lower()
    fmt = (fmt or os.environ.get("DSTREAM_LOG_FORMAT") or "text").lower()
    if level not in LEVELS:
        raise UsageError(f"unknown log level {level!r}", hint="use one of " + ", ".join(LEVELS))
    if fmt not in FORMATS:
        raise UsageError(f"unknown log format {fmt!r}", hint="use text or json")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    log.handlers[:] = [handler]
    log.setLevel(LEVELS[level])
    global _level
    # As every provider SDK knows it: debug, info, warning or error.
    _level = logging.getLevelName(min(LEVELS[level], logging.ERROR)).lower()
    log.propagate = False
    # dstream's own credentials (registry password, GITHUB_TOKEN, ...) are masked in
    # every output from the start; sensitive variables when the configuration is read.
    remember_environment(os.environ)


def level_name() -> Optional[str]:
    """The level set up for this process (None before `setup`), as providers read it
    from DSTREAM_LOG_LEVEL."""
    return _level


def provider_line(task: str, role: str, text: str, level: Optional[str], *, several: bool) -> None:
    """A provider's stderr line, re-emitted with its task and role."""
    fields: dict[str, object] = {}
    if text.startswith("{"):
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError:
            record = None
        if isinstance(record, dict) and "level" in record and "msg" in record:
            level = str(record.pop("level"))
            text = str(record.pop("msg"))
            record.pop("time", None)
            record.pop("ts", None)
            fields = record
    levelno = LEVELS.get((level or "info").lower(), logging.INFO)
    if not _provider_log.isEnabledFor(levelno):
        return
    source = f"{task}/{role}" if several else role
    _provider_log.log(
        levelno, text, extra={"source": source, "task": task, "role": role, "fields": fields}
    )
