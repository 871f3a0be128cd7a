"""Human and JSON rendering shared by every command (Terraform's view layer).

Commands compute a result and hand it to the view; they never print directly. In JSON
mode exactly one JSON document goes to stdout; messages and errors go to stderr.

Everything a view writes passes through the redactor (dstream.config.redact) here, on
its way out: texts written to `out` or `err` as text, documents structurally (so they
stay valid JSON), log records as the log redacts them. Only `reveal=True` (`dstream show
--show-secrets`) skips it.

With --log-format json the lines a view writes on stderr are log records, one JSON
object each, as a log shipper reads them (`records`): the notes, the summary lines, the
error blocks (docs/operations.md, "Logs").
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

from dstream import drop_stdout, logs
from dstream.config.redact import redact_cut, redact_data, redact_text
from dstream.errors import ConfigError, DstreamError, ProviderError, visible
from dstream.protocol.values import decode_json, encode_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from re import Match
    from typing import Any, Optional, TextIO

    # A row of a table a command prints (or lists with --json).
    Row = dict[str, Any]  # Any: built from records, then read back by column to print it

TAIL_LINES = 10  # stderr lines quoted in an error block
TAIL_WIDTH = 200  # characters of each, the rest cut


def _repeats(line: str, said: str) -> bool:
    """Whether a stderr line (plain, or a JSON log record's msg) is already in `said`."""
    text = line.strip()
    if text.startswith("{"):
        try:
            record = decode_json(text)
        except ValueError:
            record = None
        msg = record.get("msg") if isinstance(record, dict) else None
        if isinstance(msg, str):
            text = msg
    return bool(text) and text in said


def _trim(line: str) -> str:
    return redact_cut(visible(line), TAIL_WIDTH)


def _writes_utf8(stream: TextIO) -> bool:
    """Whether `stream` encodes as UTF-8 (else it is a locale's narrower encoding)."""
    import codecs

    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def _json_escape(match: Match[str]) -> str:
    units = match.group().encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{units[i] << 8 | units[i + 1]:04x}" for i in range(0, len(units), 2))


def ascii_json(text: str) -> str:
    """A JSON document's text with every non-ASCII character escaped the JSON way
    (\\uXXXX, a surrogate pair beyond the BMP): the same document, writable in any
    locale. Outside strings a JSON text holds only ASCII, so each is inside one."""
    import re  # here: a pattern compiled at import delays every run's start

    return re.sub(r"[^\x00-\x7f]", _json_escape, text)


def wants_color(stream: TextIO) -> bool:
    """Colour on a terminal, unless NO_COLOR is set to anything but "" (no-color.org) or
    the terminal is a dumb one (TERM=dumb)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class RedactedStream:
    """A text stream whose every write is redacted; the rest is the stream's. Writers
    write whole messages (a secret split over two writes would not be recognised).
    `before`: called before each write (stderr's: stdout's held text goes first)."""

    def __init__(self, raw: TextIO, before: Optional[Callable[[], None]] = None) -> None:
        self.raw = raw
        self._before = before

    def write(self, text: str, *, redacted: bool = False) -> int:
        """Write `text`, redacted unless it is already (`redacted`: a log record, which
        the log's format redacts structurally, so that it stays valid JSON)."""
        if self._before is not None:
            self._before()
        self.raw.write(text if redacted else redact_text(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # Any: whatever the stream has: flush, isatty, ...
        return getattr(self.raw, name)


class _Lines:
    """A RedactedStream as the log's Sink of whole lines already redacted (records,
    notes: logs.Logger.write_line): each written as it is, stdout's held text first."""

    def __init__(self, stream: RedactedStream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(text, redacted=True)

    def flush(self) -> None:
        self._stream.raw.flush()


class HeldStream:
    """stdout's text, held and written at once (`release`): when the command ends, or
    before it next writes to stderr, by the view or dstream's log (cli/app.py hooks it),
    so the two keep their order. Written a line per
    write, a reader that leaves after the first bytes (`| head -c1`) failed the command
    or not as it left before or after the last line; written at once, as a JSON
    document is, an output the pipe holds is all written whenever the reader leaves. On
    a terminal each flush writes it: a person watches it come, and no reader leaves.
    Every write is redacted as it comes (but `reveal`'s), whole as RedactedStream's."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw
        self._held: list[str] = []
        self._terminal = raw.isatty()  # asked once, not at every line
        # What failed stdout when its text was released before a write to stderr: that
        # write goes on (an error block is not lost for it), the command then says it.
        self.lost: Optional[OSError] = None

    def write(self, text: str, *, reveal: bool = False) -> int:
        self._held.append(text if reveal else redact_text(text))
        return len(text)

    def flush(self) -> None:
        if self._terminal:
            self.release()

    def release_before_stderr(self) -> None:
        """release, before a write to stderr: a stdout that fails then keeps its error
        (`lost`) and holds nothing more, and the stderr write goes on."""
        if self.lost is not None:
            self._held = []
            return
        try:
            self.release()
        except OSError as exc:
            self.lost = exc

    def release(self) -> None:
        """Write what is held in one write (dropped if that fails: it is said once, by
        cli/boundary.py `stdout_lost`, and never written twice)."""
        # Swapped, not cleared after the join: a log line's release from a provider's
        # stderr thread (cli/app.py) may come while another thread holds more.
        held, self._held = self._held, []
        if held:
            text = "".join(held)
            self.raw.write(text)
            self.raw.flush()

    def __getattr__(self, name: str) -> Any:  # Any: whatever the stream has: isatty, ...
        return getattr(self.raw, name)


class View:
    def __init__(
        self, *, json: bool = False, out: Optional[TextIO] = None, err: Optional[TextIO] = None
    ):
        # The process's streams as they are now, not as they were when this module was
        # imported (a default argument would keep those: redirect_stdout, test capture).
        out = out or sys.stdout
        err = err or sys.stderr
        self.json = json
        self._held_out = HeldStream(out)
        # TextIO in type only: both delegate everything but write (and flush).
        self.out: TextIO = self._held_out  # type: ignore[assignment]
        before = self._held_out.release_before_stderr
        self._err = RedactedStream(err, before=before)
        self.err: TextIO = self._err  # type: ignore[assignment]
        self._lines = _Lines(self._err)
        self._held: Optional[list[object]] = None
        # The exit code a command decided before its last words (a run's or an agent's
        # summaries: cli/run.py `render`, its one writer): a stream that fails while they
        # are written does not make a signal's code 1 (cli/boundary.py `stream_lost`).
        self.exit_code: Optional[int] = None
        # A failed document waiting for the command's exit code (`document`, `finish`).
        self._unfinished: Optional[dict[Any, Any]] = None

    @property
    def records(self) -> bool:
        """Whether the view's lines on stderr are log records (--log-format json), not
        text. Asked at each write: the log is set up after the view is made (cli/app.py
        `_execute`), and a usage error found before is said as text."""
        return logs.log.writes_json

    def record(
        self,
        level: int,
        text: str,
        *,
        task: Optional[str] = None,
        role: Optional[str] = None,
        fields: Optional[dict[str, object]] = None,
    ) -> None:
        """One log record on stderr, in the log's format, whatever the log level: it is
        the command's own output (a note, a summary, an error), which a level hides no
        more than it hides the text it stands for. Written under the log's lock: an
        output's lines come from their tasks' threads, beside the providers' lines."""
        line = logs.record_line(level, text, task=task, role=role, fields=fields)
        logs.log.write_line(line, self._lines)  # redacted by the format

    @property
    def interactive(self) -> bool:
        """Whether a live display may be drawn on stderr: a terminal, and neither
        --json nor --log-format json (whose every line on stderr is one record)."""
        return not self.json and not self.records and self.err.isatty()

    @property
    def color(self) -> bool:
        """Whether human output on stdout may be coloured: the one place that decides."""
        return not self.json and wants_color(self.out)

    @contextlib.contextmanager
    def held_documents(self) -> Iterator[list[object]]:
        """Within, documents are kept in the list, not written: for a command that
        learns only after a step wrote its document whether the command did its job
        (destroy's state step); it then writes the one document, amended."""
        held: list[object] = []
        self._held = held
        try:
            yield held
        finally:
            self._held = None

    def document(self, obj: object, *, reveal: bool = False) -> None:
        """The single machine-readable result of a --json command."""
        if self._held is not None:
            self._held.append(obj)
            return
        shown = obj if reveal else redact_data(obj)
        if isinstance(shown, dict) and shown.get("ok") is False and "exit_code" not in shown:
            self._unfinished = shown  # its exit code is known when the command ends
            return
        self._write_document(shown)

    def finish(self, code: int) -> None:
        """The command ended with `code`: a failed document written without its exit
        code (`fmt --check`'s, `lint`'s) gets it, and is written. The one place that
        gives it: every error document has its `exit_code` (docs/cli.md)."""
        unfinished, self._unfinished = self._unfinished, None
        if unfinished is not None:
            self._write_document({**unfinished, "exit_code": int(code)})

    def _write_document(self, shown: object) -> None:
        # Written at once, as human output is (HeldStream): a reader that leaves after
        # the first bytes (`| head -c1`) ends both modes the same way.
        text = encode_json(shown, indent=True, non_str_keys=True).decode() + "\n"
        if not _writes_utf8(self._held_out.raw):
            text = ascii_json(text)
        self._held_out.write(text, reveal=True)  # redacted above, structurally
        self.release()

    def line(self, text: str = "", *, reveal: bool = False) -> None:
        """Human output (suppressed in JSON mode), held to be written at once."""
        if not self.json:
            self._held_out.write(text + "\n", reveal=reveal)
            self._held_out.flush()

    def release(self) -> None:
        """Write stdout's held text now, in one write: the command is done with it. A
        stdout that failed before a write to stderr raises that failure now."""
        lost = self._held_out.lost
        if lost is not None:
            self._held_out.lost = None
            raise lost
        self._held_out.release()

    def before_stderr(self) -> None:
        """What a write to stderr from outside the view (dstream's log) calls first:
        stdout's held text goes first, so the two keep their order on one stream."""
        self._held_out.release_before_stderr()

    def info(
        self,
        text: str,
        *,
        task: Optional[str] = None,
        level: int = logs.INFO,
        record: Optional[str] = None,
    ) -> None:
        """Progress or notes for a person: stderr, never mixed with data on stdout. Under
        --log-format json a record of `level`, about `task` if given (its field), whose
        message is `record` when the text names the task in its own words."""
        if self.json:
            return
        if self.records:
            self.record(level, record or text, task=task)
            return
        self.err.write(text + "\n")
        self.err.flush()

    def note(self, text: str, *, task: Optional[str] = None) -> None:
        """Something the user must know even in --json mode (stderr is free there),
        about the task `task` if given; where the log's lines go (above a live progress
        display, whose redraw erased a note written beside it). A note is a log line:
        one stderr cannot take (its reader left, a full disk) is lost, as theirs are
        (logs.Logger.emit), and the command goes on. Raised, it failed a run after the
        step it told of (--reset-state's forgotten checkpoint), having run nothing."""
        line = self.note_line(text, task=task)
        with contextlib.suppress(OSError, ValueError):  # ValueError: stderr closed
            logs.log.write_line(line, logs.log.stream or self._lines)

    def note_line(self, text: str, *, task: Optional[str] = None) -> str:
        """A note as stderr gets it, redacted, with its line break: a record of `task`
        (--log-format json), else `task T: text`."""
        if self.records:
            return logs.record_line(logs.INFO, text, task=task)
        return redact_text(logs.about(task, text)) + "\n"

    def error(self, exc: DstreamError, *, task: Optional[str] = None) -> None:
        if self.json:
            self._unfinished = None  # this error's document is the command's one
            try:
                # the code it exits with, as every command's document has it
                self.document({"ok": False, **exc.to_dict(), "exit_code": int(exc.exit_code)})
                return
            except BrokenPipeError as lost:  # the reader of stdout left (`| head`): no
                drop_stdout(lost)  # bug, and the error still reaches stderr, as in text mode
        self.error_block(exc, task=task)

    def error_block(
        self, exc: DstreamError, *, task: Optional[str] = None, then: Optional[str] = None
    ) -> None:
        """One failure, one block: what (and which task), the provider's last stderr
        lines (those that only repeat the reason left out), its hint, and `then`, the
        command's own hint after it (what to run once the cause is fixed); with
        --log-format json one record of level error, the two hints its `hint`."""
        # str() of a ProviderError would quote the tail: it comes below
        reason = exc.reason if isinstance(exc, ProviderError) else str(exc)
        shown = exc.shown() if not isinstance(exc, ProviderError) else visible(reason)
        hints = [hint for hint in (exc.hint, then) if hint]
        if self.records:  # its fields: the error's, as a --json error document has them
            fields = exc.to_dict()
            if hints:
                fields["hint"] = "; ".join(hints)
            # A configuration error knows the task it is about (None: the file's).
            about = exc.task if isinstance(exc, ConfigError) and task is None else task
            self.record(logs.ERROR, reason, task=about, fields=fields)
            return
        # A reason may quote what a provider or a registry wrote (a refusal's message,
        # a platform's name): its line breaks and escapes are shown, not obeyed, so that
        # it cannot print a line that passes for one of dstream's (DstreamError.shown).
        # Here, once, for every error; a JSON document escapes them itself.
        what = f'task "{visible(task)}": {shown}' if task else shown
        self.err.write(f"error: {what}\n")
        if isinstance(exc, ConfigError) and exc.refusal is not None:  # what it explains
            refusal = exc.refusal
            self.err.write(f"  provider: {visible(refusal.reason)}\n")
            self.stderr_tail(refusal.stderr_tail, already=refusal.reason)
        if isinstance(exc, ProviderError):
            self.stderr_tail(exc.stderr_tail, already=what)
        for hint in hints:
            self.err.write(f"  hint: {visible(hint)}\n")
        self.err.flush()

    def stderr_tail(self, lines: list[str], *, already: str = "") -> None:
        """The provider's last stderr lines, trimmed; a line that only repeats what the
        error says (a provider logs its refusal too) is left out."""
        tail = [line for line in lines[-TAIL_LINES:] if not _repeats(line, already)]
        if not tail:
            return
        self.err.write("  last stderr lines:\n")
        for line in tail:
            self.err.write(f"  | {_trim(line)}\n")
