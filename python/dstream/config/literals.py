"""Quoted strings as HCL v2 reads them (hclsyntax spec, "Template Expressions"): their
text stays on one line and holds only the escapes the spec names; a block label is
literal text, its escapes decoded. python-hcl2's grammar accepts more (a line break,
any `\\x`), and config/quickparse.py mirrors that grammar, so these rules are checked
on the tree either parser gives, before it is cached.
"""

from __future__ import annotations

import re

from dstream.config.templates import TEMPLATE_FUNCTION
from dstream.config.tree import Token, Tree
from dstream.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.config.templates import SourceMap

ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
ESCAPE_HINT = (
    'the escapes are \\n \\r \\t \\" \\\\ \\uNNNN \\UNNNNNNNN, and $${ and %%{ for a '
    "literal ${ and %{: write a backslash itself as \\\\"
)
MULTI_LINE_HINT = (
    "write a line break as \\n, or text over several lines as a heredoc (<<-EOT, the "
    "lines, then EOT on a line of its own)"
)
# The literal parts of a quoted string: text, and the `$${` / `%%{` escapes (python-hcl2
# keeps the text after them, up to a `}`, in the same token).
TEXT_PARTS = ("STRING_CHARS", "ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE")
# Compiled on first use (re keeps them): a run whose strings have no escape never
# uses them, and a compile at import costs ~0.5 M instructions of every start (issue 22).
_ESCAPE = r"(?s)\\(u[0-9a-fA-F]{0,4}|U[0-9a-fA-F]{0,8}|.)"
_ESCAPE_OR_TEMPLATE = _ESCAPE + r"|\$\$\{|%%\{"
_DIGITS = {"u": 4, "U": 8}


class BadString(Exception):
    """A quoted string HCL v2 refuses, at a line and column of the parsed text; the
    caller places it in the file (config/syntax.py, a heredoc's interpolation)."""

    def __init__(self, reason: str, hint: str, line: int, column: int) -> None:
        super().__init__(reason)
        self.reason, self.hint, self.line, self.column = reason, hint, line, column


def unescape(text: str) -> str:
    """The text of a quoted string's literal part, its escapes decoded (check_strings
    has refused the invalid ones; one left here is kept as written)."""
    if "\\" not in text:
        return text
    return re.sub(_ESCAPE, _decode, text)


def _decode(match: re.Match[str]) -> str:
    code = match.group(1)
    if code is None:  # `$${` or `%%{`
        return match.group(0)[1:]
    if code[0] in _DIGITS and len(code) == _DIGITS[code[0]] + 1:
        return chr(int(code[1:], 16))
    return ESCAPES.get(code, match.group(0))


def text_of(token: Token) -> str:
    """What a literal part of a quoted string stands for: its escapes decoded, and
    `$${` as `${` (config/gaps.py leaves that escape in the token's text)."""
    value = str(token.value)
    if token.type != "STRING_CHARS":  # python-hcl2's `$${...}` token
        return value[1:3] + unescape(value[3:])
    if "$${" in value or "%%{" in value:
        return re.sub(_ESCAPE_OR_TEMPLATE, _decode, value)
    return unescape(value)


def _escape_problem(code: str) -> Optional[str]:
    """None when `\\` + `code` (as _ESCAPE matched it) is an escape; else what to add
    to "invalid escape sequence ..." ("" when the sequence says it all)."""
    if code in ESCAPES:
        return None
    if code[0] not in _DIGITS:
        return ""
    if len(code) != _DIGITS[code[0]] + 1:
        return f": \\{code[0]} takes {('four', 'eight')[code[0] == 'U']} hexadecimal digits"
    point = int(code[1:], 16)
    if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
        return f": U+{code[1:].upper()} cannot be encoded in UTF-8"
    return None


def _position(token: Token, offset: int) -> tuple[int, int]:
    """The line and column of character `offset` of `token`'s text."""
    value = str(token.value)
    newline = value.rfind("\n", 0, offset)
    line = (token.line or 1) + value.count("\n", 0, offset)
    if newline < 0:
        return line, (token.column or 1) + offset
    return line, offset - newline


def _check_text(token: Token) -> None:
    value = str(token.value)
    newline = value.find("\n")
    if newline >= 0:
        line, column = _position(token, newline)
        raise BadString("a quoted string cannot span lines", MULTI_LINE_HINT, line, column)
    if "\\" not in value:  # no escape to check (nor _ESCAPE to compile)
        return
    start = 0 if token.type == "STRING_CHARS" else 3  # after `$${` / `%%{`
    for match in re.compile(_ESCAPE).finditer(value, start):
        problem = _escape_problem(match.group(1))
        if problem is not None:
            line, column = _position(token, match.start())
            reason = f"invalid escape sequence {match.group(0)}{problem}"
            raise BadString(reason, ESCAPE_HINT, line, column)


def check_strings(tree: Tree) -> None:
    """Raise BadString for the first quoted string in `tree` that HCL v2 refuses: a
    line break in its text, an invalid escape."""
    for node in tree.iter_subtrees_topdown():
        if node.data != "string":
            continue
        for part in node.children:
            if isinstance(part, Tree) and part.data == "string_part":
                token = part.children[0]
                if isinstance(token, Token) and token.type in TEXT_PARTS:
                    _check_text(token)


def label_text(node: Tree, source_map: SourceMap) -> str:
    """A quoted block label's text: literal, as HCL v2 reads it (its escapes decoded);
    an interpolation, directive or {{ }} template action in it is a ConfigError."""
    out = []
    for part in node.children:
        if not (isinstance(part, Tree) and part.data == "string_part"):
            continue
        inner = part.children[0]
        if isinstance(inner, Token):
            out.append(text_of(inner))
            continue
        where = source_map.location(inner.line or 0, inner.column or 0)
        if inner.data != "interpolation":
            what, hint = "a directive (%{)", 'write "%%{" for a literal "%{"'
        elif any(
            str(call.children[0].children[0]) == TEMPLATE_FUNCTION
            for call in inner.find_data("function_call")
        ):
            what = "a {{ }} template action"
            hint = "a label is read before anything is evaluated: write the name itself"
        else:
            what, hint = "an interpolation (${)", 'write "$${" for a literal "${"'
        raise ConfigError(
            f"a block label cannot hold {what}: it is literal text",
            location=where,
            hint=hint,
        )
    return "".join(out)
