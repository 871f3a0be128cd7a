"""Human and JSON rendering shared by every command (Terraform's view layer).

Commands compute a result and hand it to the view; they never print directly. In JSON
mode exactly one JSON document goes to stdout; messages and errors go to stderr.

Everything a view writes passes through the redactor (dstream.config.redact) here, on
its way out: texts written to `out` or `err` as text, documents structurally (so they
stay valid JSON). Only `reveal=True` (`dstream show --show-secrets`) skips it.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

import orjson

from dstream.config.redact import redact_data, redact_text
from dstream.errors import DstreamError


class RedactedStream:
    """A text stream whose every write is redacted; the rest is the stream's. Writers
    write whole messages (a secret split over two writes would not be recognised)."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(redact_text(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, ...
        return getattr(self.raw, name)


class View:
    def __init__(self, *, json: bool = False, out: TextIO = sys.stdout, err: TextIO = sys.stderr):
        self.json = json
        # TextIO in type only: RedactedStream delegates everything but write.
        self.out: TextIO = RedactedStream(out)  # type: ignore[assignment]
        self.err: TextIO = RedactedStream(err)  # type: ignore[assignment]
        self._raw_out = out

    @property
    def interactive(self) -> bool:
        return not self.json and self.err.isatty()

    def document(self, obj: Any, *, reveal: bool = False) -> None:
        """The single machine-readable result of a --json command."""
        shown = obj if reveal else redact_data(obj)
        self._raw_out.write(
            orjson.dumps(shown, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
        )
        self._raw_out.write("\n")
        self._raw_out.flush()

    def line(self, text: str = "", *, reveal: bool = False) -> None:
        """Human output (suppressed in JSON mode)."""
        if not self.json:
            (self._raw_out if reveal else self.out).write(text + "\n")
            self.out.flush()

    def info(self, text: str) -> None:
        """Progress or notes for a person: stderr, never mixed with data on stdout."""
        if not self.json:
            self.err.write(text + "\n")
            self.err.flush()

    def error(self, exc: DstreamError) -> None:
        if self.json:
            self.document({"ok": False, **exc.to_dict()})
            return
        self.err.write(f"error: {exc}\n")
        if exc.hint:
            self.err.write(f"  hint: {exc.hint}\n")
        self.err.flush()
