"""Structured logging for providers: one JSON object per line on stderr.

dstream shows a stderr line `{"level": ..., "msg": ..., **fields}` as a log record with
its level and `key=value` fields (contract section 6). stdout is data, so nothing here
ever touches it. The threshold comes from `DSTREAM_LOG_LEVEL` (debug, info, warning,
error; default info).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback

import orjson

from dstream.errors import DstreamError

__all__ = ["Logger", "log"]

LEVELS = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40}


class Logger:
    def __init__(self, fd: int = 2) -> None:
        self.fd = fd
        self.threshold = LEVELS.get(os.environ.get("DSTREAM_LOG_LEVEL", "info").lower(), 20)
        self.context: dict[str, object] = {}

    def bind(self, **fields: object) -> None:
        """Add fields to every record from now on (the host binds `task`)."""
        self.context.update(fields)

    def emit(self, level: str, msg: str, fields: dict[str, object]) -> None:
        if LEVELS.get(level, 20) < self.threshold:
            return
        record: dict[str, object] = {"level": level, "msg": msg, **self.context, **fields}
        try:
            line = orjson.dumps(record, default=str) + b"\n"
        except TypeError:
            line = orjson.dumps({k: str(v) for k, v in record.items()}) + b"\n"
        # One write per record keeps lines whole when several threads log; if stderr is
        # gone there is nowhere left to report it.
        with contextlib.suppress(OSError):
            os.write(self.fd, line)

    def debug(self, msg: str, **fields: object) -> None:
        self.emit("debug", msg, fields)

    def info(self, msg: str, **fields: object) -> None:
        self.emit("info", msg, fields)

    def warning(self, msg: str, **fields: object) -> None:
        self.emit("warning", msg, fields)

    warn = warning

    def error(self, msg: str, **fields: object) -> None:
        self.emit("error", msg, fields)

    def exception(self, msg: str, **fields: object) -> None:
        """An error record with the current exception's type, message and traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, DstreamError):  # a reason and a fix for the user: no traceback
            fields.setdefault("error", str(exc))
            if exc.hint:
                fields.setdefault("hint", exc.hint)
        elif exc is not None:
            fields.setdefault("error", f"{type(exc).__name__}: {exc}")
            fields.setdefault("traceback", "".join(traceback.format_exc()).rstrip())
        self.emit("error", msg, fields)


log = Logger()


class _JsonLogHandler(logging.Handler):
    """Routes the standard `logging` module (used by pika, psycopg, azure ...) into the
    same JSON lines, so a library never prints to stdout and its records keep levels."""

    def emit(self, record: logging.LogRecord) -> None:
        level = {10: "debug", 20: "info", 30: "warning"}.get(record.levelno, "error")
        fields: dict[str, object] = {"logger": record.name}
        if record.exc_info:
            fields["traceback"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        try:
            msg = record.getMessage()
        except Exception:
            msg = str(record.msg)
        log.emit(level, msg, fields)


def route_stdlib_logging() -> None:
    root = logging.getLogger()
    if not any(isinstance(h, _JsonLogHandler) for h in root.handlers):
        root.addHandler(_JsonLogHandler())
    # Libraries are chatty at INFO; their records show from WARNING unless debugging.
    root.setLevel(logging.DEBUG if log.threshold <= LEVELS["debug"] else logging.WARNING)
