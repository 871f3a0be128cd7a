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

from dstream.config.functions import to_number
from dstream.config.model import Location
from dstream.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:  # sprig is imported by a file that has a template (~2 ms less without)
    from dstream.config.functions import CallContext
    from dstream.config.sprig import Pipeline
    from dstream.protocol.values import JsonValue

TEMPLATE_FUNCTION = "_template_env"  # inside strings and heredocs: always a string
TEMPLATE_VALUE_FUNCTION = "_template_value"  # in expression position: number/bool if it is one

# Inside an action: a string "..." (escapes), one written \"...\" inside an HCL string,
# a raw string `...`, or anything up to the closing braces.
_ACTION_PART = r'(?s)\\"(?:[^"\\]|\\[^"])*\\"|"(?:[^"\\\n]|\\.)*"|`[^`]*`|\}\}|.'
_HEREDOC_START = r"<<-?([A-Za-z][A-Za-z0-9._-]*)[ \t\r]*\n"
_SIMPLE_NUMBER = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?\Z"


@record(frozen=True)
class TemplateUse:
    """One template action: its parsed pipeline and where it was written."""

    pipeline: Pipeline
    location: Location
    text: str


def template_value(use: TemplateUse, context: CallContext, pasted: bool) -> JsonValue:
    """The value of one action: its text; or, `pasted` in expression position, what the
    original's unquoted paste made of it: `port = {{ env "PORT" }}` a number,
    `x = {{ env "X" | quote }}` the string the quoted text spells."""
    from dstream.config.sprig import evaluate, go_string, go_unquote_literal

    value = go_string(evaluate(use.pipeline, context, use.location))
    if not pasted:
        return value
    if value in ("true", "false"):
        return value == "true"
    if re.match(_SIMPLE_NUMBER, value):
        return to_number(value)
    return go_unquote_literal(value)


def _action(text: str, start: int, where: Location) -> str:
    """The template action `{{ ... }}` starting at `start`, on one line."""
    pos = start + 2
    action_part = re.compile(_ACTION_PART)
    while pos < len(text):
        part = action_part.match(text, pos)
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


@record
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


@record
class Rewritten:
    text: str
    source_map: SourceMap
    uses: list[TemplateUse]


def rewrite_templates(text: str, filename: str) -> Rewritten:
    """Replace every `{{ env ... }}` in `text` by an evaluator call (see module doc)."""
    if "{{" not in text:
        return Rewritten(text, SourceMap(filename), [])
    return _Rewriter(text, filename).run()


@record
class _Mode:
    """What the scanner is in: code (with its brace depth), a quoted string, a heredoc."""

    kind: str  # "code", "string" or "heredoc"
    depth: int = 0  # code: braces opened in it and not closed yet
    marker: str = ""  # heredoc: the word on the line that ends it


class _Rewriter:
    """One pass over the text, copying it and replacing each action; it follows strings,
    heredocs, comments and `${ }` only to know whether an action stands in code."""

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self.source_map = SourceMap(filename)
        self.uses: list[TemplateUse] = []
        self.out: list[str] = []
        self.modes = [_Mode("code")]
        self.line, self.col = 1, 1  # position in the original text
        self.out_col = 1  # column in the rewritten text on the current line
        self.i = 0

    def run(self) -> Rewritten:
        while self.i < len(self.text):
            mode = self.modes[-1]
            if self.text.startswith("{{", self.i):
                self._replace_action(mode)
            elif mode.kind == "code":
                self._code(mode)
            elif mode.kind == "string":
                self._string()
            else:
                self._heredoc(mode)
        return Rewritten("".join(self.out), self.source_map, self.uses)

    def _copy(self, count: int) -> None:
        chunk = self.text[self.i : self.i + count]
        self.out.append(chunk)
        newlines = chunk.count("\n")
        if newlines:
            self.line += newlines
            self.col = self.out_col = len(chunk) - chunk.rfind("\n")
        else:
            self.col += count
            self.out_col += count
        self.i += count

    def _replace_action(self, mode: _Mode) -> None:
        where = Location(self.filename, self.line, self.col)
        whole = _action(self.text, self.i, where)
        inner = whole[2:-2]
        inner = inner[1:] if inner.startswith("-") else inner  # Go's trim markers
        inner = inner[:-1] if inner.endswith("-") else inner
        from dstream.config.sprig import parse

        self.uses.append(TemplateUse(parse(inner, where), where, whole))
        in_code = mode.kind == "code"
        function = TEMPLATE_VALUE_FUNCTION if in_code else TEMPLATE_FUNCTION
        call = f'{function}("", {len(self.uses) - 1})'
        replacement = call if in_code else "${" + call + "}"
        self.out.append(replacement)
        self.i += len(whole)
        self.col += len(whole)
        self.out_col += len(replacement)
        self.source_map.add(self.line, self.out_col, len(replacement) - len(whole))

    def _code(self, mode: _Mode) -> None:
        text, i = self.text, self.i
        ch = text[i]
        if ch == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            self._copy((end if end >= 0 else len(text)) - i)
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            self._copy((end + 2 if end >= 0 else len(text)) - i)
        elif ch == '"':
            self.modes.append(_Mode("string"))
            self._copy(1)
        elif ch == "<" and (heredoc := re.compile(_HEREDOC_START).match(text, i)):
            self.modes.append(_Mode("heredoc", marker=heredoc.group(1)))
            self._copy(len(heredoc.group(0)))
        elif ch == "{":
            mode.depth += 1
            self._copy(1)
        elif ch == "}":
            if mode.depth == 0 and len(self.modes) > 1:
                self.modes.pop()  # end of a ${ } inside a string or heredoc
            else:
                mode.depth = max(0, mode.depth - 1)
            self._copy(1)
        else:
            self._copy(1)

    def _string(self) -> None:
        ch = self.text[self.i]
        if ch == "\\":
            self._copy(2)
        elif self._template_sequence():
            pass
        elif ch in '"\n':
            self.modes.pop()  # a newline ends an unterminated string; the parser says so
            self._copy(1)
        else:
            self._copy(1)

    def _heredoc(self, mode: _Mode) -> None:
        text, i = self.text, self.i
        if i == 0 or text[i - 1] == "\n":
            end = text.find("\n", i)
            current = text[i : end if end >= 0 else len(text)]
            if current.strip() == mode.marker:
                self.modes.pop()
                self._copy(len(current))
                return
        if not self._template_sequence():
            self._copy(1)

    def _template_sequence(self) -> bool:
        """Copy an escaped `$${`/`%%{`, or enter the code of a `${`/`%{`, if one is
        at the cursor (in a string or heredoc)."""
        text, i = self.text, self.i
        if text.startswith("$${", i) or text.startswith("%%{", i):
            self._copy(3)
            return True
        if text.startswith("${", i) or text.startswith("%{", i):
            self.modes.append(_Mode("code"))
            self._copy(2)
            return True
        return False
