"""What HCL v2 reads that python-hcl2's grammar does not: in a quoted string,

- A line break inside a template sequence (`"%{ for t in\n local.tables }..."`): HCL
  ignores it; only the string's own text must stay on one line.
- The escapes `$${` and `%%{`: three characters in HCL, where the grammar's terminal runs
  on to the next `}` (over a `"` and the attributes after it).
- Strip markers on an interpolation, `${~ x ~}`, as on a directive.

and in code, a `/* */` comment: HCL skips it wherever it is (over several lines too:
`1 /* a <new line> b */ + 2` is 3), where the grammar takes it for a line end, which
it accepts in some places only (`a /* why */ = 1`, `-/* a */1`, `xs /* c */ [0]` are
syntax errors to it).

The grammar (and config/quickparse.py, which mirrors it) reads a copy of the text of the
same length in which each such break is a space, each escape's first character a
backslash (so `\\${` is plain text to it), each such `~` a space and each comment in
code blanks (its line breaks too); then every position is placed back on the text as
written, the literal text of the string is taken from it, and an interpolation's strip
markers are marked on its `${` and `}` tokens ("${~", "~}") for config/strings.py.
"""

from __future__ import annotations

import bisect
import re

from dstream.config.limits import skip_heredoc
from dstream.config.tree import Token

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.config.tree import Tree

# Only a text with one of these needs the scan: a `${`/`%{` with a line break before any
# `}`, an escape, a strip marker next to a brace, a block comment.
_MAY_NEED = r"[$%]\{[^}\n]*\n|\$\$\{|%%\{|\$\{~|~\}|/\*"  # (compiled on first use)
_IN_CODE = r'["{\[(}\])#/<\n]'
_IN_STRING = r'[\\"\n$%]'
# The token whose text is a quoted string's literal text.
_TEXT = "STRING_CHARS"


class Copy:
    """The text the parser reads, and the way back to the text as written."""

    def __init__(self, written: str, edits: dict[int, str]) -> None:
        chars = list(written)
        for at, char in edits.items():
            chars[at] = char
        self.text = "".join(chars)
        self._written = written
        self._edits = edits
        self._copy_starts = _line_starts(self.text)
        self._written_starts = _line_starts(written)

    def place(self, line: int, column: int) -> tuple[int, int]:
        """The line and column in the written text of (line, column) in the copy."""
        return _line_column(self._written_starts, self._offset(line, column))

    def _offset(self, line: int, column: int) -> int:
        line = min(max(line, 1), len(self._copy_starts))
        return self._copy_starts[line - 1] + max(column, 1) - 1

    def restore(self, tree: Tree) -> None:
        """Place every position in `tree` on the written text, take each literal text
        from it, and mark an interpolation's strip markers on its braces."""
        for subtree in tree.iter_subtrees_topdown():
            if subtree.line is not None:
                subtree.line, subtree.column = self.place(subtree.line, subtree.column or 1)
            last = len(subtree.children) - 1
            for index, child in enumerate(subtree.children):
                if isinstance(child, Token) and child.line is not None:
                    strip = subtree.data == "interpolation" and index in (0, last)
                    subtree.children[index] = self._token(child, strip)

    def _token(self, token: Token, strip: bool) -> Token:
        at = self._offset(token.line or 1, token.column or 1)
        value = str(token)
        if token.type == _TEXT:
            value = self._written[at : at + len(value)]
        elif strip and value == "${" and self._edits.get(at + 2) == " ":
            value = "${~"
        elif strip and value == "}" and self._edits.get(at - 1) == " ":
            value = "~}"
        return Token(token.type, value, *_line_column(self._written_starts, at))


def copy_for_grammar(text: str) -> Optional[Copy]:
    """The copy of `text` the grammar can read, or None when `text` is one already
    (nearly every text: one regular expression tells)."""
    if re.search(_MAY_NEED, text) is None:
        return None
    edits = _edits(text)
    return Copy(text, edits) if edits else None


def _edits(text: str) -> dict[int, str]:
    """Offset -> the character the copy has there. A line break that ends a comment
    inside a template sequence stays: joining it would comment out the rest."""
    in_code, in_string = re.compile(_IN_CODE), re.compile(_IN_STRING)
    edits: dict[int, str] = {}
    stack: list[str] = []  # '"' a quoted string, "$" a ${, "%" a %{, else the bracket
    index = 0
    while True:
        string = bool(stack) and stack[-1] == '"'
        found = (in_string if string else in_code).search(text, index)
        if found is None:
            return edits
        index = found.start()
        char = text[index]
        if string:
            index = _in_string(text, index, stack, edits)
        elif char == "\n":
            if '"' in stack:
                edits[index] = " "
                if index and text[index - 1] == "\r":
                    edits[index - 1] = " "
            index += 1
        elif char in '"{[(':
            stack.append(char)
            index += 1
        elif char in "}])":
            if stack and stack.pop() == "$" and text[index - 1] == "~":
                edits[index - 1] = " "  # `~}` closing an interpolation
            index += 1
        elif char == "#" or text.startswith("//", index):
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline + 1
        elif text.startswith("/*", index):
            index = _block_comment(text, index, edits)
        elif text.startswith("<<", index):
            index = skip_heredoc(text, index)
        else:
            index += 1


def _block_comment(text: str, index: int, edits: dict[int, str]) -> int:
    """The index after the `/* */` comment at `index`, blanked in the copy (line breaks
    and all: HCL reads `a /* x <new line> y */ = 1` as one attribute). An unclosed one
    is left to the grammar, whose error names it."""
    close = text.find("*/", index + 2)
    if close < 0:
        return len(text)
    edits.update(dict.fromkeys(range(index, close + 2), " "))
    return close + 2


def _in_string(text: str, index: int, stack: list[str], edits: dict[int, str]) -> int:
    """One step in a quoted string's text at `index`; the index after it."""
    char = text[index]
    if char == "\\":
        return index + 2
    if char in '"\n':
        stack.pop()
        return index + 1
    if text.startswith(char + char + "{", index):  # $${ or %%{: a literal ${ or %{
        edits[index] = "\\"
        return index + 3
    if text.startswith("{", index + 1):  # ${ or %{
        stack.append(char)
        if char == "$" and text.startswith("~", index + 2):
            edits[index + 2] = " "
        return index + 2
    return index + 1


def _line_starts(text: str) -> list[int]:
    return [0] + [match.end() for match in re.finditer("\n", text)]


def _line_column(starts: list[int], offset: int) -> tuple[int, int]:
    index = bisect.bisect_right(starts, offset) - 1
    return index + 1, offset - starts[index] + 1
