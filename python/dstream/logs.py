"""The one logging setup of dstream: levels, text or JSON, redaction, provider lines.

`--log-level` / `DSTREAM_LOG_LEVEL` and `--log-format text|json` / `DSTREAM_LOG_FORMAT`
apply to dstream's own messages and to every provider's stderr line, which is
re-emitted with its task and role (JSON records from providers keep their level and
fields). Nothing secret reaches the log: each formatted record passes through the
redactor (dstream.config.redact) in the formatter, its one way out, whatever
its level, its format, or whether the text came from dstream or a provider.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from dstream.config.redact import redact_data, redact_text, remember_environment
from dstream.errors import visible
from dstream.protocol.values import as_text, decode_json, encode_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection
    from typing import Callable, Optional, Protocol

    from dstream.errors import DstreamError

    class Sink(Protocol):
        """Where the lines go: stderr, or a live display that keeps them above itself."""

        def write(self, text: str, /) -> int: ...

        def flush(self) -> None: ...


# Not the standard library's logging: dstream has one sink (stderr), two formats and no
# tree of loggers to configure, and importing logging (its format classes compile
# regexes; it brings traceback, textwrap and string) cost `dstream run` ~5 % of its
# start (issue 22). The numbers are logging's, so a level means what a reader expects.
DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
NAMES = {DEBUG: "debug", INFO: "info", WARNING: "warning", ERROR: "error", CRITICAL: "critical"}
LEVELS = {
    "trace": DEBUG,
    "debug": DEBUG,
    "info": INFO,
    "notice": INFO,
    "warn": WARNING,
    "warning": WARNING,
    "error": ERROR,
    "fatal": CRITICAL,
    "critical": CRITICAL,
}
FORMATS = ("text", "json")
_level: Optional[str] = None  # as given to setup


class Record:
    """One message, as the formats read it."""

    __slots__ = ("created", "fields", "level", "role", "source", "task", "text")

    def __init__(
        self,
        level: int,
        text: str,
        *,
        source: Optional[str] = None,
        task: Optional[str] = None,
        role: Optional[str] = None,
        fields: Optional[dict[str, object]] = None,
    ) -> None:
        self.created = time.time()
        self.level = NAMES[level]
        self.text = text
        self.source, self.task, self.role = source, task, role
        self.fields = fields or {}


def _text(record: Record) -> str:
    """`source: [level] text key=value ...`, every physical line with the prefix: a
    provider's `msg` may hold line breaks, and a line without it could pass for one of
    dstream's own (`✅ Task ... executed successfully`). A field's name or text value is
    written as it is when it is one plain word (`signal=SIGTERM`), else as JSON, so one
    holding a line break stays on its line, and a nested value reads as the provider
    wrote it; values are redacted structurally first, as the JSON format's are."""
    tag = "" if record.level == "info" else f"[{record.level}] "
    prefix = f"{record.source}: " if record.source else "dstream: "
    # dstream's own message about a task names it in words; a provider's line has its
    # source (`t/input`) instead.
    text = record.text if record.source else about(record.task, record.text)
    for name, value in record.fields.items():
        text += f" {_word(name)}={_word(redact_data(value))}"
    lines = text.splitlines() or [""]
    return redact_text("\n".join(prefix + tag + visible(line) for line in lines))


def about(task: Optional[str], text: str) -> str:
    """`text` about the task `task` (if any) as a text line says it, `task T: text`: the
    one spelling of it (a JSON record has the task as its field, its `msg` the text
    alone)."""
    return f"task {task}: {text}" if task else text


def _word(value: object) -> str:
    """`value` as one word of a log line: a plain string as it is, anything else (a
    string with a space, `=`, `"` or a control character; a number, a list) as JSON."""
    if isinstance(value, str) and value.isprintable() and not any(c in value for c in ' ="'):
        return value or '""'
    return encode_json(value, default=str).decode()


def _json(record: Record) -> str:
    millis = int(record.created % 1 * 1000)
    out: dict[str, object] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{millis:03d}Z",
        "level": record.level,
        "msg": record.text,
    }
    if record.task:
        out["task"] = record.task
    if record.role:
        out["role"] = record.role
    for name, value in record.fields.items():  # never over the record's own
        out.setdefault(name, value)
    # Structurally, so the record stays valid JSON whatever a secret's characters.
    return encode_json(redact_data(out), default=str).decode()


class Logger:
    """dstream's messages on stderr, each one whole line whichever thread writes it (the
    stderr forwarders of several providers write at once)."""

    def __init__(self) -> None:
        self.level = INFO
        self.format = _text
        self.stream: Optional[Sink] = None  # None: sys.stderr as it is at the write
        # Called before each line (the CLI's: stdout's held text goes first, so the two
        # keep their order on one stream, cli/view.py).
        self.before: Optional[Callable[[], None]] = None
        # Where a signal handler's line goes while `stream` is a live display (a write
        # that never waits on a lock: runtime/progress.py); None: it writes to stderr.
        self.from_handler: Optional[Callable[[str], None]] = None
        self._lock = threading.Lock()

    def is_enabled_for(self, level: int) -> bool:
        return level >= self.level

    @property
    def writes_json(self) -> bool:
        """Whether each record is a JSON object (--log-format json), not a text line:
        then every line of dstream's own on stderr is one (cli/view.py)."""
        return self.format is _json

    def emit(self, record: Record, level: int) -> None:
        if level < self.level:
            return
        line = self.format(record) + "\n"
        with self._lock:
            stream = self.stream or sys.stderr
            try:
                if self.before is not None:
                    self.before()
                stream.write(line)
                stream.flush()
            except (OSError, ValueError):  # stderr closed (`2>&1 | head`): nowhere to say it
                pass

    def write_line(self, line: str, stream: Sink) -> None:
        """`line`, whole (formatted, redacted, with its line break), on `stream`, under
        the lock the log's lines are written with, so that a line written from another
        thread (an output's line, a note) never cuts into one. The stream's errors are
        the caller's (OSError: its reader left). Not from a signal handler: the thread it
        interrupted may hold the lock (runtime/signals.py writes its notice without it)."""
        with self._lock:
            stream.write(line)
            stream.flush()

    def _log(
        self,
        level: int,
        msg: str,
        args: tuple[object, ...],
        task: Optional[str],
        fields: Optional[dict[str, object]] = None,
    ) -> None:
        if level >= self.level:
            self.emit(Record(level, msg % args if args else msg, task=task, fields=fields), level)

    # `task`: the task a message is about: `task T: ...` in a text line, a field of its
    # JSON record (for a log shipper to select by), as a provider line's task is.
    def debug(self, msg: str, *args: object, task: Optional[str] = None) -> None:
        self._log(DEBUG, msg, args, task)

    def info(self, msg: str, *args: object, task: Optional[str] = None) -> None:
        self._log(INFO, msg, args, task)

    def warning(self, msg: str, *args: object, task: Optional[str] = None) -> None:
        self._log(WARNING, msg, args, task)

    def error(
        self,
        msg: str,
        *args: object,
        task: Optional[str] = None,
        fields: Optional[dict[str, object]] = None,  # an error's `hint`, say
    ) -> None:
        self._log(ERROR, msg, args, task, fields)

    def asked(self, msg: str, *, task: Optional[str] = None) -> None:
        """An info line asked for by a flag of its own (`--progress-interval`): written
        at any log level, as the command's own output is (docs/operations.md, "Logs");
        `-l warning` quiets what dstream says of its own accord, not what was asked."""
        self.emit(Record(INFO, msg, task=task), max(INFO, self.level))

    def failure(self, doing: str, exc: DstreamError, *, task: Optional[str] = None) -> None:
        """An error the command goes on after (a reload's): `doing: what`, as an error
        block says it (`file:line:col: reason`), its hint on a line of its own in text
        (`  hint: ...`); with --log-format json the error's fields as a --json error
        document has them (`error`, `location`, `hint`, ...), its reason in `msg`."""
        if self.writes_json:
            fields = exc.to_dict()
            fields.pop("message", None)  # the record's msg says it
            self._log(ERROR, f"{doing}: {exc.reason}", (), task, fields)
            return
        hint = f"\n  hint: {exc.hint}" if exc.hint else ""
        self._log(ERROR, f"{doing}: {exc}{hint}", (), task)


log = Logger()


def record_line(
    level: int,
    text: str,
    *,
    task: Optional[str] = None,
    role: Optional[str] = None,
    fields: Optional[dict[str, object]] = None,
) -> str:
    """One record as the log's format writes it (redacted), with its line break, for
    a writer of its own (the view, the stop notice, a lost stdout's line), whatever the
    log level. Takes no lock: a signal handler makes its notice with it."""
    return log.format(Record(level, text, task=task, role=role, fields=fields)) + "\n"


def setup(level: Optional[str] = None, fmt: Optional[str] = None) -> None:
    """Configure once per process; flags (`level`, `fmt`: None when not given) win over
    the environment."""
    level = _chosen("level", level, ("-l/--log-level", "DSTREAM_LOG_LEVEL"), "info", LEVELS)
    fmt = _chosen("format", fmt, ("-f/--log-format", "DSTREAM_LOG_FORMAT"), "text", FORMATS)
    log.format = _json if fmt == "json" else _text
    log.level = LEVELS[level]
    global _level
    # As every provider SDK knows it: debug, info, warning or error.
    _level = NAMES[min(LEVELS[level], ERROR)]
    # dstream's own credentials (registry password, GITHUB_TOKEN, ...) are masked in
    # every output from the start; sensitive variables when the configuration is read.
    remember_environment(os.environ)


def _chosen(
    what: str, flag: Optional[str], names: tuple[str, str], default: str, valid: Collection[str]
) -> str:
    """The log `what` the flag gives, else the variable, else `default`, lowercased; a
    UsageError naming which of them (`names`: the flag's, the variable's) gave a value
    not in `valid`: a variable exported in a profile would fail every command unseen."""
    from dstream.errors import UsageError

    flag_name, variable = names
    given = flag if flag is not None else os.environ.get(variable) or default
    if given.lower() in valid:
        return given.lower()
    choices = "use one of " + ", ".join(valid)
    if flag is not None:  # in argparse's words, as every other flag's error
        raise UsageError(f"argument {flag_name}: unknown log {what} {given!r}", hint=choices)
    raise UsageError(
        f"{variable}: unknown log {what} {given!r}",
        hint=f"fix or unset {variable} ({flag_name} wins over it): {choices}",
    )


def level_name() -> Optional[str]:
    """The level set up for this process (None before `setup`), as providers read it
    from DSTREAM_LOG_LEVEL."""
    return _level


# A provider record's fields that would clash with dstream's own (_json's; `level` and
# `msg` are the provider record's level and text): each is kept under this prefix
# (`provider_time`), again until the name is not one the record holds. A provider's
# `time` is its clock, not the record's: dstream's stamps every record alike.
OWN_FIELDS = frozenset({"time", "task", "role"})
PROVIDER_PREFIX = "provider_"


def _kept_name(name: str, record: Collection[str]) -> str:
    """The name a provider's field `name` is kept under: itself, but for dstream's own
    fields, which the provider's would overwrite; never one of its other fields, which
    it would overwrite in turn (a record with both `task` and `provider_task`)."""
    if name not in OWN_FIELDS:
        return name
    kept = PROVIDER_PREFIX + name
    while kept in record:
        kept = PROVIDER_PREFIX + kept
    return kept


def provider_line(task: str, role: str, text: str, level: Optional[str], *, several: bool) -> None:
    """A provider's stderr line, re-emitted with its task and role."""
    fields: dict[str, object] = {}
    if text.startswith("{"):
        try:
            record = decode_json(text)
        except ValueError:
            record = None
        if isinstance(record, dict) and "level" in record and "msg" in record:
            level = str(record.pop("level"))
            text = as_text(record.pop("msg"))
            # The time, task and role are dstream's (a log shipper selects by them): a
            # provider's own are kept beside them, under names of their own.
            fields = {_kept_name(name, record): value for name, value in record.items()}
    levelno = LEVELS.get((level or "info").lower(), INFO)
    if not log.is_enabled_for(levelno):
        return
    source = f"{task}/{role}" if several else role
    log.emit(Record(levelno, text, source=source, task=task, role=role, fields=fields), levelno)
