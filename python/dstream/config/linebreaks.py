"""Line breaks inside a quoted string's `${ }` and `%{ }`.

HCL v2 ignores a line break inside a template sequence of a quoted string
(`"%{ for t in\n local.tables }..."`): only the string's own text must stay on one line.
python-hcl2's grammar (and so config/quickparse.py, which mirrors it) refuses the break
in most places. So the parser reads a copy of the text in which each such break is a
space, and every position it reports is placed back on the text as written: the copy has
the same length, so a character's offset is the same in both.
"""

from __future__ import annotations

import bisect
import re

from dstream.config.limits import skip_heredoc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.config.tree import Tree

# A `${` or `%{` with a line break before any `}`: only a text with one needs the scan.
_MAY_BREAK = re.compile(r"[$%]\{[^}\n]*\n")
_IN_CODE = r'["{\[(}\])#/<\n]'
_IN_STRING = r'[\\"\n$%]'


class Joined:
    """The text the parser reads, and the way back to the text as written."""

    def __init__(self, written: str, breaks: list[int]) -> None:
        chars = list(written)
        for at in breaks:
            chars[at] = " "
            if at and chars[at - 1] == "\r":
                chars[at - 1] = " "
        self.text = "".join(chars)
        self._joined_starts = _line_starts(self.text)
        self._written_starts = _line_starts(written)

    def place(self, line: int, column: int) -> tuple[int, int]:
        """The line and column in the written text of (line, column) in the joined one."""
        if line < 1 or line > len(self._joined_starts):
            return line, column
        offset = self._joined_starts[line - 1] + max(column, 1) - 1
        index = bisect.bisect_right(self._written_starts, offset) - 1
        return index + 1, offset - self._written_starts[index] + 1

    def place_tree(self, tree: Tree) -> None:
        """Move every position in `tree` to the written text."""
        from dstream.config.tree import Token

        for subtree in tree.iter_subtrees_topdown():
            if subtree.line is not None:
                subtree.line, subtree.column = self.place(subtree.line, subtree.column or 1)
            for child in subtree.children:
                if isinstance(child, Token) and child.line is not None:
                    child.line, child.column = self.place(child.line, child.column or 1)


def join_template_lines(text: str) -> Joined | None:
    """The text with its template sequences' line breaks made spaces, or None when it
    has none (nearly every text: one regular expression tells)."""
    if _MAY_BREAK.search(text) is None:
        return None
    breaks = _template_breaks(text)
    return Joined(text, breaks) if breaks else None


def _template_breaks(text: str) -> list[int]:
    """The offsets of the line breaks in code inside a quoted string's `${ }`/`%{ }`.
    One that ends a comment stays: joining it would comment out the rest."""
    in_code, in_string = re.compile(_IN_CODE), re.compile(_IN_STRING)
    breaks: list[int] = []
    stack: list[str] = []  # '"' for a quoted string, else the bracket it opened
    index = 0
    while True:
        string = bool(stack) and stack[-1] == '"'
        found = (in_string if string else in_code).search(text, index)
        if found is None:
            return breaks
        index = found.start()
        char = text[index]
        if string:
            if char == "\\":
                index += 1
            elif char in '"\n':
                stack.pop()
            elif text.startswith(char + char + "{", index):
                index += 2  # $${ and %%{ are text
            elif char in "$%" and text.startswith("{", index + 1):
                stack.append("{")
                index += 1
            index += 1
        elif char == "\n":
            if '"' in stack:
                breaks.append(index)
            index += 1
        elif char == '"':
            stack.append('"')
            index += 1
        elif char in "{[(":
            stack.append(char)
            index += 1
        elif char in "}])":
            if stack:
                stack.pop()
            index += 1
        elif char == "#" or text.startswith("//", index):
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline + 1
        elif text.startswith("/*", index):
            close = text.find("*/", index + 2)
            index = len(text) if close < 0 else close + 2
        elif text.startswith("<<", index):
            index = skip_heredoc(text, index)
        else:
            index += 1


def _line_starts(text: str) -> list[int]:
    return [0] + [match.end() for match in re.finditer("\n", text)]
