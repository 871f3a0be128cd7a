"""The bounds a configuration must stay within, and the checks that enforce them.

A dstream.hcl is written by a trusted author, but it is read from disk, from var files
and from DSTREAM_VAR_* variables that may be generated, pasted or corrupted: no input
may make loading recurse without bound, read forever, allocate without bound or run a
regular expression for minutes. Each limit is far above what a real configuration
needs; docs/security.md ("Bad input") lists them. Every refusal names file:line:col.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

# Bytes of one configuration or var file (and of a file() read).
MAX_FILE_BYTES = 4 * 1024 * 1024
# Brackets, braces, parentheses and ${ } open at once, counted as written.
MAX_NESTING = 32
# Levels of the parse tree of one expression, and of evaluation (locals that refer to
# locals count): what bounds operator chains such as `1 + 1 + ...` that use no bracket.
MAX_TREE_DEPTH = 200
# Levels of a value (lists and objects inside each other), e.g. from jsondecode().
MAX_VALUE_DEPTH = 64
# Characters of one string value, and elements of one list or object.
MAX_STRING = 1024 * 1024
MAX_ELEMENTS = 100_000
# Width and precision of one format() verb.
MAX_FORMAT_WIDTH = 1024
# Seconds one regular expression of replace() may run (the `regex` engine's timeout).
REGEX_TIMEOUT = 1.0
# Groups open at once in one regular expression (RE2 allows 1000; the `regex` engine
# runs out of stack before 200, and config/re2.py writes up to two groups for one).
MAX_REGEX_NESTING = 32
# The largest max_frame_size (1 GiB), and the longest duration (one year, in seconds).
MAX_FRAME_SIZE = 1024**3
MAX_DURATION = 365 * 24 * 3600.0
# Digits of one integer (config/numbers.py): integers are exact at any size up to this;
# the bound keeps arithmetic on them instant and their digits printable.
MAX_INTEGER_DIGITS = 1000
# Bytes of a task name in UTF-8. The file state store names files after it, %-escaping
# each byte outside [A-Za-z0-9_.-] (3 bytes for 1 at worst) and adding up to 16 bytes
# (.NAME.runs.jsonl.tmp): 64 keeps every such name within a file name's 255 bytes.
MAX_TASK_NAME_BYTES = 64
TASK_NAME_HINT = (
    f"a task name is 1 to {MAX_TASK_NAME_BYTES} bytes of printable text (letters, digits, "
    "'-', '_' and '.' read best): it names the task's state files, log lines and table rows"
)


class TooDeep(Exception):
    """Text nested beyond a limit: `offset` (a character of the text) or `line` and
    `column` say where the first level too many opens."""

    def __init__(
        self, reason: str, *, offset: Optional[int] = None, line: int = 0, column: int = 0
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.line = line
        self.column = column

    def position(self, text: str) -> tuple[int, int]:
        if self.offset is not None:
            return line_column(text, self.offset)
        return self.line, self.column


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of character `offset` of `text`."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


_IN_CODE = r'["{\[(}\])#/<]'
_IN_CODE_JSON = r'["{\[(}\])]'
_IN_STRING = r'[\\"\n$%]'
_IN_STRING_JSON = r'[\\"]'


def check_nesting(text: str, *, templates: bool = True) -> None:
    """Raise TooDeep when brackets (and, with `templates`, `${`/`%{` inside strings) nest
    deeper than MAX_NESTING; `templates=False` reads JSON. Strings and comments are
    skipped; a heredoc's body is text here (its interpolations are checked when they are
    parsed). It need not be exact HCL: what it misreads, the parser refuses anyway."""
    in_code = re.compile(_IN_CODE if templates else _IN_CODE_JSON)
    in_string = re.compile(_IN_STRING if templates else _IN_STRING_JSON)
    stack: list[str] = []  # "{", "[", "(" or '"'
    index, end = 0, len(text)
    while index < end:
        found = (in_string if stack and stack[-1] == '"' else in_code).search(text, index)
        if found is None:
            return
        index = found.start()
        char = text[index]
        if stack and stack[-1] == '"':
            if char == "\\":
                index += 2
                continue
            if char in '"\n':
                stack.pop()
            elif text.startswith(char + char + "{", index):
                index += 2  # the escapes $${ and %%{ are text
            elif text.startswith("{", index + 1):  # ${ or %{
                stack.append("{")
                _check_depth(stack, index)
                index += 1
            index += 1
        elif char == '"':
            stack.append('"')
            index += 1
        elif char in "{[(":
            stack.append(char)
            _check_depth(stack, index)
            index += 1
        elif char in "}])":
            if stack:
                stack.pop()
            index += 1
        elif char == "#" or text.startswith("//", index):
            newline = text.find("\n", index)
            index = end if newline < 0 else newline
        elif text.startswith("/*", index):
            close = text.find("*/", index + 2)
            index = end if close < 0 else close + 2
        elif text.startswith("<<", index):
            index = skip_heredoc(text, index)
        else:
            index += 1


def _check_depth(stack: list[str], index: int) -> None:
    if len(stack) > MAX_NESTING and sum(1 for s in stack if s != '"') > MAX_NESTING:
        raise TooDeep(f"nested more than {MAX_NESTING} levels deep", offset=index)


def skip_heredoc(text: str, index: int) -> int:
    """The index after a heredoc starting at `index` (`<<EOT` or `<<-EOT`)."""
    newline = text.find("\n", index)
    if newline < 0:
        return len(text)
    marker = text[index + 2 : newline].lstrip("-").strip()
    if not marker.isidentifier():
        return index + 2
    position = newline + 1
    while position < len(text):
        line_end = text.find("\n", position)
        line_end = len(text) if line_end < 0 else line_end
        if text[position:line_end].strip() == marker:
            return line_end
        position = line_end + 1
    return len(text)


def value_problem(value: object) -> Optional[str]:
    """Why `value` is too deep or too large, or None. Iterative: a value too deep for
    recursion is exactly what it must survive."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if len(item) > MAX_STRING:
                return f"a string of {len(item):,} characters (the limit is {MAX_STRING:,})"
        elif isinstance(item, (list, dict)):
            if depth > MAX_VALUE_DEPTH:
                return f"a value nested more than {MAX_VALUE_DEPTH} levels deep"
            if len(item) > MAX_ELEMENTS:
                return f"a collection of {len(item):,} elements (the limit is {MAX_ELEMENTS:,})"
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def task_name_problem(name: str) -> Optional[str]:
    """Why `name` cannot name a task, or None. One rule for every place a name goes: the
    state backends, the file store's file names, DSTREAM_TASK in a provider's
    environment, and one-line output (logs, `dstream state list`)."""
    if not name:
        return "a task name cannot be empty"
    shown = repr(name if len(name) <= 40 else name[:37] + "...")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_TASK_NAME_BYTES:
        return f"task name {shown} is {size} bytes long, more than {MAX_TASK_NAME_BYTES}"
    bad = next((char for char in name if not char.isprintable()), None)
    if bad is not None:
        code = ord(bad)
        kind = (
            "control character" if code < 0x20 or 0x7F <= code < 0xA0 else "unprintable character"
        )
        return f"task name {shown} holds the {kind} U+{code:04X}"
    return None
