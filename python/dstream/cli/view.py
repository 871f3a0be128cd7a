"""Human and JSON rendering shared by every command (Terraform's view layer).

Commands compute a result and hand it to the view; they never print directly. In JSON
mode exactly one JSON document goes to stdout; messages and errors go to stderr.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

import orjson

from dstream.errors import DstreamError


class View:
    def __init__(self, *, json: bool = False, out: TextIO = sys.stdout, err: TextIO = sys.stderr):
        self.json = json
        self.out = out
        self.err = err

    @property
    def interactive(self) -> bool:
        return not self.json and self.err.isatty()

    def document(self, obj: Any) -> None:
        """The single machine-readable result of a --json command."""
        self.out.write(
            orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
        )
        self.out.write("\n")
        self.out.flush()

    def line(self, text: str = "") -> None:
        """Human output (suppressed in JSON mode)."""
        if not self.json:
            self.out.write(text + "\n")
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
