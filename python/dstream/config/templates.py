"""The original DStream's Go text/template actions (`{{ env "NAME" }}`, Sprig pipelines
such as `{{ env "NAME" | default "x" | upper }}`), kept for old configs.

The original ran Go's text/template over the whole file before parsing, pasting raw
values into HCL: a quote or `${` in a secret broke or changed the configuration, and
one failing template broke every task. Here each action is parsed (config/sprig.py)
and rewritten, before parsing, into a call of an internal HCL function
(`_template_env("", n)`), so it is evaluated by the evaluator when it reaches it — per
task, lazily — and its value never becomes HCL text. Whatever the value holds arrives
byte for byte.

Context decides the replacement: inside a quoted string or heredoc it becomes an
interpolation `${_template_env(...)}`; in expression position it becomes the bare call
(which, like the original's pasting, yields a number or bool when the value is one).

The rewrite changes column numbers on the lines it touches; `SourceMap` maps them back
so errors point at what the user wrote.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dstream.config.model import Location

if TYPE_CHECKING:  # sprig is imported by a file that has a template (~2 ms less without)
    from dstream.config.sprig import Pipeline

TEMPLATE_FUNCTION = "_template_env"  # inside strings and heredocs: always a string
TEMPLATE_VALUE_FUNCTION = "_template_value"  # in expression position: number/bool if it is one

# Inside an action: a string "..." (escapes), one written \"...\" inside an HCL string,
# a raw string `...`, or anything up to the closing braces.
_ACTION_PART = re.compile(r'\\"(?:[^"\\]|\\[^"])*\\"|"(?:[^"\\\n]|\\.)*"|`[^`]*`|\}\}|.', re.S)
_HEREDOC_START = re.compile(r"<<-?([A-Za-z][A-Za-z0-9._-]*)[ \t\r]*\n")


@dataclass(frozen=True)
class TemplateUse:
    """One template action: its parsed pipeline and where it was written."""

    pipeline: Pipeline
    location: Location
    text: str


def _action(text: str, start: int, where: Location) -> str:
    """The template action `{{ ... }}` starting at `start`, on one line."""
    pos = start + 2
    while pos < len(text):
        part = _ACTION_PART.match(text, pos)
        assert part is not None  # "." matches any character
        if part.group(0) == "}}":
            return text[start : part.end()]
        if part.group(0) == "\n":
            break
        pos = part.end()
    from dstream.config.sprig import TemplateSyntaxError

    raise TemplateSyntaxError(
        "unclosed template action: `{{` without `}}` on the same line",
        location=where,
        hint='close it, e.g. {{ env "NAME" }}',
    )


@dataclass
class SourceMap:
    """Maps (line, column) of the rewritten text back to the text the user wrote."""

    file: str
    # line -> sorted rewritten columns where a replacement ended, and the cumulative
    # column shift (rewritten - original) from that column on.
    _shifts: dict[int, tuple[list[int], list[int]]] = field(default_factory=dict)

    def add(self, line: int, rewritten_end_col: int, shift: int) -> None:
        cols, deltas = self._shifts.setdefault(line, ([], []))
        cols.append(rewritten_end_col)
        deltas.append((deltas[-1] if deltas else 0) + shift)

    def location(self, line: int, column: int) -> Location:
        shifts = self._shifts.get(line)
        if shifts:
            cols, deltas = shifts
            index = bisect.bisect_right(cols, column) - 1
            if index >= 0:
                column -= deltas[index]
        return Location(self.file, line, column)


@dataclass
class Rewritten:
    text: str
    source_map: SourceMap
    uses: list[TemplateUse]
    # Kept for lint, which reports templates left as text; every action is expanded now.
    unsupported: list[Location]


def rewrite_templates(text: str, filename: str) -> Rewritten:
    """Replace every `{{ env ... }}` in `text` by an evaluator call (see module doc)."""
    source_map = SourceMap(filename)
    uses: list[TemplateUse] = []
    unsupported: list[Location] = []
    if "{{" not in text:
        return Rewritten(text, source_map, uses, unsupported)
    from dstream.config.sprig import parse

    out: list[str] = []
    # Mode stack: "code" (with its own brace depth), "string", or a heredoc marker.
    modes: list[list[object]] = [["code", 0]]
    line, col = 1, 1  # position in the original text
    out_col = 1  # column in the rewritten text on the current line
    i, n = 0, len(text)

    def copy(count: int) -> None:
        nonlocal i, line, col, out_col
        chunk = text[i : i + count]
        out.append(chunk)
        newlines = chunk.count("\n")
        if newlines:
            line += newlines
            tail = len(chunk) - chunk.rfind("\n")
            col = out_col = tail
        else:
            col += count
            out_col += count
        i += count

    while i < n:
        mode = modes[-1]
        kind = mode[0]
        ch = text[i]
        if ch == "{" and text.startswith("{{", i):
            where = Location(filename, line, col)
            whole = _action(text, i, where)
            inner = whole[2:-2]
            inner = inner[1:] if inner.startswith("-") else inner  # Go's trim markers
            inner = inner[:-1] if inner.endswith("-") else inner
            uses.append(TemplateUse(parse(inner, where), where, whole))
            function = TEMPLATE_VALUE_FUNCTION if kind == "code" else TEMPLATE_FUNCTION
            call = f'{function}("", {len(uses) - 1})'
            replacement = call if kind == "code" else "${" + call + "}"
            out.append(replacement)
            i += len(whole)
            col += len(whole)
            out_col += len(replacement)
            source_map.add(line, out_col, len(replacement) - len(whole))
            continue
        if kind == "code":
            if ch == "#" or text.startswith("//", i):
                end = text.find("\n", i)
                copy((end if end >= 0 else n) - i)
            elif text.startswith("/*", i):
                end = text.find("*/", i + 2)
                copy((end + 2 if end >= 0 else n) - i)
            elif ch == '"':
                modes.append(["string"])
                copy(1)
            elif ch == "<" and (heredoc := _HEREDOC_START.match(text, i)):
                modes.append(["heredoc", heredoc.group(1)])
                copy(len(heredoc.group(0)))
            elif ch == "{":
                mode[1] = int(str(mode[1])) + 1
                copy(1)
            elif ch == "}":
                if mode[1] == 0 and len(modes) > 1:
                    modes.pop()  # end of a ${ } inside a string or heredoc
                else:
                    mode[1] = max(0, int(str(mode[1])) - 1)
                copy(1)
            else:
                copy(1)
        elif kind == "string":
            if ch == "\\":
                copy(2)
            elif text.startswith("$${", i) or text.startswith("%%{", i):
                copy(3)
            elif text.startswith("${", i) or text.startswith("%{", i):
                modes.append(["code", 0])
                copy(2)
            elif ch in '"\n':
                modes.pop()  # a newline ends an unterminated string; the parser says so
                copy(1)
            else:
                copy(1)
        else:  # heredoc
            at_line_start = i == 0 or text[i - 1] == "\n"
            if at_line_start:
                end = text.find("\n", i)
                current = text[i : end if end >= 0 else n]
                if current.strip() == mode[1]:
                    modes.pop()
                    copy(len(current))
                    continue
            if text.startswith("$${", i) or text.startswith("%%{", i):
                copy(3)
            elif text.startswith("${", i) or text.startswith("%{", i):
                modes.append(["code", 0])
                copy(2)
            else:
                copy(1)
    return Rewritten("".join(out), source_map, uses, unsupported)
