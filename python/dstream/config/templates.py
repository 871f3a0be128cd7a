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

Go's comments `{{/* ... */}}` become nothing. Trim markers (`{{- `, ` -}}`) remove the
spaces and tabs beside the action on its line, as Go does; a line break is never
removed (line numbers stay those of the file): in code it does not change what HCL
reads, and one a marker would remove inside a heredoc is an error.

A bare template inside a list or an object whose value holds a quote or a comma made
several items in the original (its text was pasted) and is one item here: the use is
marked, and the loader turns the marks into warnings (`split_paste_warnings`).

The rewrite changes column numbers on the lines it touches; `SourceMap` maps them back
so errors point at what the user wrote.
"""

from __future__ import annotations

import bisect
import re

from dstream.config.diagnostics import Diagnostic
from dstream.config.functions import to_number
from dstream.config.model import Location
from dstream.errors import ConfigError
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
_ONE_QUOTED = r'"(?:[^"\\]|\\.)*"\Z'  # one Go/HCL string literal, as `quote` writes it
_GO_SPACE = " \t\r\n"  # what Go's trim markers remove, and what makes one (isSpace)
_LINE_SPACE = " \t\r"  # what dstream's remove: no line break
# What comes before a `{` that opens an object rather than a block's body.
_BEFORE_OBJECT = "=:,[({?>"
COMMENT_HINT = "write a comment as Go does: {{/* ... */}}, or {{- /* ... */ -}} to trim around it"


@record
class TemplateUse:
    """One template action: its parsed pipeline and where it was written; `container`:
    "list" or "object" when it stands bare (in code) right inside one, else ""."""

    pipeline: Pipeline
    location: Location
    text: str
    container: str = ""
    # Set when its value, pasted, held a quote or comma: the original made several
    # items of it (split_paste_warnings).
    split_paste: bool = field(default=False, compare=False)


def template_value(use: TemplateUse, context: CallContext, pasted: bool) -> JsonValue:
    """The value of one action: its text; or, `pasted` in expression position, what the
    original's unquoted paste made of it: `port = {{ env "PORT" }}` a number,
    `x = {{ env "X" | quote }}` the string the quoted text spells."""
    from dstream.config.sprig import evaluate, go_string, go_unquote_literal

    value = go_string(evaluate(use.pipeline, context, use.location))
    if not pasted:
        return value
    if use.container and _splits(value):
        use.split_paste = True
    if value in ("true", "false"):
        return value == "true"
    if re.match(_SIMPLE_NUMBER, value):
        return to_number(value)
    return go_unquote_literal(value)


def _splits(text: str) -> bool:
    """Whether the original, pasting `text` into a list or object, made more (or other)
    than the one item dstream makes: a quote or comma outside one quoted literal."""
    if re.match(_ONE_QUOTED, text.strip()):
        return False
    return '"' in text or "," in text


def split_paste_warnings(rewritten: Rewritten) -> list[Diagnostic]:
    """One warning per template marked by template_value: what the original made of
    it, and how to write that in dstream (in the message: `run` shows no hint)."""
    return [_split_paste_warning(use) for use in rewritten.uses if use.split_paste]


def _split_paste_warning(use: TemplateUse) -> Diagnostic:
    name = _env_name(use.pipeline)
    read = f'env("{name}")' if name else ""
    in_list = use.container == "list"
    if in_list:
        head = f"{use.text} in a list is one item here"
        made = "several items"
        fix = (
            f'write jsondecode("[${{{read}}}]")'
            if read
            else "give the items as a JSON list and read it with jsondecode()"
        )
        hint = (
            f'or, with {name}=a,b, write split(",", {read}); '
            if read
            else "or read a comma-separated value with split(); "
        ) + "or declare a variable of type list(string) (docs/configuration.md)"
    else:
        head = f"{use.text} in an object is one value here"
        made = "several entries"
        fix = f"write the whole object as JSON and use jsondecode({read})"
        hint = "or declare a variable of type object({...}) (docs/configuration.md)"
    message = (
        f"{head}, its whole value (which holds a quote or a comma); the original pasted "
        f"the text, which made {made}: for that, {fix}"
    )
    return Diagnostic("warning", message, use.location, hint)


def _env_name(pipeline: Pipeline) -> str:
    """NAME, when the pipeline is `env "NAME"` alone; else ""."""
    from dstream.config.sprig import Call

    if len(pipeline.commands) != 1:
        return ""
    call = pipeline.commands[0]
    if isinstance(call, Call) and call.name == "env" and len(call.args) == 1:
        arg = call.args[0]
        return arg if isinstance(arg, str) else ""
    return ""


def _trim_markers(whole: str) -> tuple[bool, bool]:
    """Go's trim markers of an action or comment: `{{-` then a space; a space then `-}}`
    (`{{-3}}` is the number -3)."""
    left = len(whole) > 4 and whole[2] == "-" and whole[3] in _GO_SPACE
    right = len(whole) > 4 and whole[-3] == "-" and whole[-4] in _GO_SPACE
    return left, right


def _comment_start(text: str, start: int) -> int:
    """Where `/*` starts when the action at `start` is a comment (`{{/*`, `{{- /*`),
    else -1."""
    at = start + 2
    if text.startswith("-", at) and _space_at(text, at + 1):
        at += 2
    return at if text.startswith("/*", at) else -1


def _space_at(text: str, at: int) -> bool:
    return at < len(text) and text[at] in _GO_SPACE


def _comment(text: str, start: int, opening: int, where: Location) -> str:
    """The comment `{{/* ... */}}` starting at `start` (its `/*` at `opening`), which
    may span lines, as Go reads one."""
    from dstream.config.sprig import TemplateSyntaxError

    end = text.find("*/", opening + 2)
    if end < 0:
        raise TemplateSyntaxError("unclosed comment", location=where, hint=COMMENT_HINT)
    after = end + 2
    if text.startswith("}}", after):
        return text[start : after + 2]
    if _space_at(text, after) and text.startswith("-}}", after + 1):
        return text[start : after + 4]
    raise TemplateSyntaxError(
        "comment ends before closing delimiter", location=where, hint=COMMENT_HINT
    )


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
    # code: what each open bracket opened ("list", "object", "block", "call"), innermost last
    opened: list[str] = field(default_factory=list)


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
        opening = _comment_start(self.text, self.i)
        if opening >= 0:
            whole, replacement = _comment(self.text, self.i, opening, where), ""
        else:
            whole = _action(self.text, self.i, where)
            replacement = self._call(whole, where, mode)
        in_text = mode.kind != "code"  # where trimming changes the value
        if "\n" in whole:  # a comment: only code may hold its line breaks
            self._replace_lines(whole, where, in_text)
            return
        left, right = _trim_markers(whole)
        trimmed = self._trim_before(where) if left and in_text else 0
        self.out.append(replacement)
        self.i += len(whole)
        self.col += len(whole)
        self.out_col += len(replacement)
        skipped = self._trim_after(where) if right and in_text else 0
        shift = len(replacement) - trimmed - len(whole) - skipped
        self.source_map.add(self.line, self.out_col, shift)

    def _call(self, whole: str, where: Location, mode: _Mode) -> str:
        """The evaluator call that stands for the action `whole`."""
        from dstream.config.sprig import TemplateSyntaxError, parse

        left, right = _trim_markers(whole)
        inner = whole[3 if left else 2 : -3 if right else -2]
        if inner.strip().startswith("/*"):
            raise TemplateSyntaxError(
                "a comment must start right after `{{` (or `{{- `) and end right before "
                "`}}` (or ` -}}`)",
                location=where,
                hint=COMMENT_HINT,
            )
        in_code = mode.kind == "code"
        inside = mode.opened[-1] if in_code and mode.opened else ""
        container = inside if inside in ("list", "object") else ""
        self.uses.append(TemplateUse(parse(inner, where), where, whole, container))
        function = TEMPLATE_VALUE_FUNCTION if in_code else TEMPLATE_FUNCTION
        call = f'{function}("", {len(self.uses) - 1})'
        return call if in_code else "${" + call + "}"

    def _replace_lines(self, whole: str, where: Location, in_text: bool) -> None:
        """A comment spanning lines, in code: its line breaks stay (what HCL reads is
        the same), so every later line keeps its number."""
        if in_text:
            from dstream.config.sprig import TemplateSyntaxError

            raise TemplateSyntaxError(
                "a template comment inside a string or heredoc must be on one line",
                location=where,
                hint="end it on the line it starts on, or move it out of the string",
            )
        breaks = whole.count("\n")
        self.out.append("\n" * breaks)
        self.i += len(whole)
        self.line += breaks
        self.col = len(whole) - whole.rfind("\n")  # just after it, on its last line
        self.out_col = 1
        self.source_map.add(self.line, 1, 1 - self.col)

    def _trim_before(self, where: Location) -> int:
        """Remove the spaces and tabs written just before a `{{-`; how many."""
        removed = 0
        while self.out:
            kept = self.out[-1].rstrip(_LINE_SPACE)
            removed += len(self.out[-1]) - len(kept)
            if kept:
                self.out[-1] = kept
                break
            self.out.pop()
        if self.modes[-1].kind == "heredoc" and (not self.out or self.out[-1].endswith("\n")):
            raise _joins_lines(where)
        self.out_col -= removed
        return removed

    def _trim_after(self, where: Location) -> int:
        """Skip the spaces and tabs written just after a `-}}`; how many."""
        end = self.i
        while end < len(self.text) and self.text[end] in _LINE_SPACE:
            end += 1
        if self.modes[-1].kind == "heredoc" and self.text[end : end + 1] in ("", "\n"):
            raise _joins_lines(where)
        skipped, self.i = end - self.i, end
        self.col += skipped
        return skipped

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
            mode.opened.append("object" if self._opens_object() else "block")
            self._copy(1)
        elif ch == "}":
            if mode.depth == 0 and len(self.modes) > 1:
                self.modes.pop()  # end of a ${ } inside a string or heredoc
            else:
                mode.depth = max(0, mode.depth - 1)
                if mode.opened:
                    mode.opened.pop()
            self._copy(1)
        elif ch in "[(":
            mode.opened.append("list" if ch == "[" else "call")
            self._copy(1)
        elif ch in "])":
            if mode.opened:
                mode.opened.pop()
            self._copy(1)
        else:
            self._copy(1)

    def _opens_object(self) -> bool:
        """Whether the `{` at the cursor opens an object (after `=`, `,`, `[`, ...), not
        a block's body (after its type or labels)."""
        at = self.i - 1
        while at >= 0 and self.text[at] in _GO_SPACE:
            at -= 1
        return at >= 0 and self.text[at] in _BEFORE_OBJECT

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


def _joins_lines(where: Location) -> ConfigError:
    from dstream.config.sprig import TemplateSyntaxError

    return TemplateSyntaxError(
        "this trim marker would remove a line break of the heredoc, as Go's does; dstream "
        "keeps line breaks (so every line keeps its number)",
        location=where,
        hint="put the text it joins on one line, or drop the `-` of the marker",
    )
