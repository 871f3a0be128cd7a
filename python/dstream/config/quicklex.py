"""The terminals of hcl2.lark for config/quickparse.py: text to lark's tokens, with
lark's types, texts and positions.

Lark's lexer is contextual: which terminal a text becomes can depend on the parser's
state. Where that matters for the texts the quick parser reads, this follows lark's
choice (a sign before a number: `number`; the blanks EQ and COLON start with);
where it would take the parser's state to know (keywords such as `in`, `for`), the
text is declined (`Decline`), and lark lexes it. Names are HCL v2's (NAME_PATTERN, which
config/syntax.py puts in lark's grammar too).
"""

from __future__ import annotations

from dstream.config.tree import Token

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from typing import Optional

    import regex

# Words the grammar lexes as keywords: their trees depend on the parser's state.
KEYWORDS = frozenset({"if", "in", "for", "for_each", "else", "endif", "endfor"})
LITERALS = {"true": "TRUE", "false": "FALSE", "null": "NULL"}
PUNCTUATION = {
    "{": "LBRACE", "}": "RBRACE", "[": "LSQB", "]": "RSQB", "(": "LPAR", ")": "RPAR",
    ",": "COMMA", "+": "PLUS", "-": "MINUS", "*": "ASTERISK", "?": "QMARK",
}  # fmt: skip
TWO = {"==": "DOUBLE_EQ", "!=": "NEQ", "<=": "LEQ", ">=": "GEQ", "&&": "DOUBLE_AMP",
       "||": "DOUBLE_PIPE"}  # fmt: skip
ONE = {"<": "LT", ">": "GT", "!": "NOT"}
# Each operator's terminal -> its text. Read an operator by its terminal, never by its
# token's text: python-hcl2's lexer puts a new line or comment before a binary operator
# into that text (`# first\n+`).
OPERATORS = {
    kind: text
    for text, kind in {**PUNCTUATION, **TWO, **ONE, "/": "SLASH", "%": "PERCENT"}.items()
    if kind not in ("LBRACE", "RBRACE", "LSQB", "RSQB", "LPAR", "RPAR", "COMMA", "QMARK")
}
# HCL v2's identifier (hclsyntax spec, "Identifiers"; `_` may start one, as in
# hclsyntax's scanner), for the `regex` module. The sets below are its ASCII part, the
# one most names need: the pattern (and the import of `regex`) only reads past them.
NAME_PATTERN = r"[\p{ID_Start}_][\p{ID_Continue}-]*"
NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
NAME_CHARS = NAME_START | frozenset("0123456789-")
DIGITS = frozenset("0123456789")
EOF = "$END"
_HEREDOC_PATTERNS: Optional[tuple[tuple[str, re.Pattern[str]], ...]] = None  # on first use
_NUMBERS: Optional[tuple[tuple[str, re.Pattern[str]], ...]] = None  # on first use
_STRING_CHARS: Optional[re.Pattern[str]] = None  # on first use
_NAME: Optional[regex.Pattern[str]] = None  # on first use


class Decline(Exception):
    """Not a text this parser knows: lark parses it."""


class Scanner:
    """The terminals outside quoted strings, one at a time, with lark's positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.column = 1
        self._peeked: Optional[tuple[int, Token, int]] = None  # (pos, token, end)

    def advance(self, end: int) -> None:
        """Move to `end`, counting the lines and columns passed."""
        text, start = self.text, self.pos
        newlines = text.count("\n", start, end)
        if newlines:
            self.line += newlines
            self.column = end - text.rindex("\n", start, end)
        else:
            self.column += end - start
        self.pos = end

    def peek(self) -> Token:
        if self._peeked is None or self._peeked[0] != self.pos:
            self._skip_blanks()
            end, kind = self._terminal()
            token = Token(kind, self.text[self.pos : end], self.line, self.column)
            self._peeked = (self.pos, token, end)
        return self._peeked[1]

    def take(self, *kinds: str) -> Token:
        token = self.peek()
        if kinds and token.type not in kinds:
            raise Decline
        assert self._peeked is not None
        self.advance(self._peeked[2])
        return token

    def take_signed_number(self) -> Optional[Token]:
        """The MINUS ahead and the digits after it as one literal, if lark lexes so."""
        token = self.peek()
        found = number(self.text, self.pos) if token.type == "MINUS" else None
        if found is None:
            return None
        end, kind = found
        literal = Token(kind, self.text[self.pos : end], self.line, self.column)
        self.advance(end)
        return literal

    def _skip_blanks(self) -> None:
        """%ignore /[ \\t\\r]+/, except the blanks EQ and COLON start with: their
        patterns (`[ \\t]*=(?!=|>)`, `[ \\t]*:(?!:)`) come first in lark's lexer."""
        text, end = self.text, self.pos
        while text[end : end + 1] in (" ", "\t"):
            end += 1
        pair = text[end : end + 2]
        if pair[:1] in ("=", ":") and pair not in ("==", "=>", "::"):
            return  # part of the EQ or COLON that follows
        self.advance(end)

    def _terminal(self) -> tuple[int, str]:
        text, pos = self.text, self.pos
        while text[pos : pos + 1] in (" ", "\t"):  # only before EQ or COLON (_skip_blanks)
            pos += 1
        char, pair = text[pos : pos + 1], text[pos : pos + 2]
        if not char:
            return pos, EOF
        if pair in ("=>", "::"):
            raise Decline  # a for expression's arrow, a namespaced function
        if pair == "==":
            return pos + 2, "DOUBLE_EQ"
        if char == "=":
            return pos + 1, "EQ"
        if char == ":":
            return pos + 1, "COLON"
        if char == "\n" or char == "#" or pair == "//":
            return _comment(text, pos), "NL_OR_COMMENT"
        if char in NAME_START or (char > "\x7f" and name_end(text, pos)):
            end = pos + 1
            while text[end] in NAME_CHARS:
                end += 1
            if text[end] > "\x7f":
                end = name_end(text, pos)
            word = text[pos:end]
            if word in KEYWORDS:
                raise Decline
            return end, LITERALS.get(word, "NAME")
        if char in DIGITS:
            found = number(text, pos)
            after = text[found[0]] if found else "."
            if found is None or after in NAME_START or after == "." or after > "\x7f":
                raise Decline  # `1abc`, `1.a`, `1e`: lexed apart by lark, read by nobody
            return found
        if char == '"':
            return pos + 1, "DBLQUOTE"
        if char == ".":
            if text.startswith("...", pos):
                return pos + 3, "ELLIPSIS"
            if text[pos + 1] in DIGITS or text[pos + 1] == "*":
                raise Decline  # a short index (a.0) or an attribute splat (a.*)
            return pos + 1, "DOT"
        if pair in TWO:
            return pos + 2, TWO[pair]
        if char == "[" and text[pos + 1] == "*":
            raise Decline  # a full splat
        if char in PUNCTUATION:
            return pos + 1, PUNCTUATION[char]
        if pair == "<<":
            return _heredoc(text, pos)
        if char in ONE:
            return pos + 1, ONE[char]
        if char == "/" and pair != "/*":
            return pos + 1, "SLASH"
        if char == "%" and pair != "%{":
            return pos + 1, "PERCENT"
        raise Decline  # ~, $, \, &, |, /*, %{ and anything unknown


def is_name(text: str) -> bool:
    """Whether `text` is one name whole (what `var.NAME` can spell)."""
    if text[:1] in NAME_START and all(char in NAME_CHARS for char in text):
        return True  # the ASCII names most are, without the `regex` module
    return bool(text) and name_end(text, 0) == len(text)


def name_end(text: str, pos: int) -> int:
    """The end of the name at `pos` (NAME_PATTERN), or 0 if none starts there."""
    global _NAME
    if _NAME is None:
        import regex

        _NAME = regex.compile(NAME_PATTERN)
    found = _NAME.match(text, pos)
    return found.end() if found else 0


def _heredoc(text: str, pos: int) -> tuple[int, str]:
    """A heredoc is one terminal: matched with hcl2.lark's own two patterns."""
    global _HEREDOC_PATTERNS
    if _HEREDOC_PATTERNS is None:
        import re

        marker = r"(?P<m>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:(?:.|\n)*?\r?\n)??\s*(?P=m)\r?\n"
        _HEREDOC_PATTERNS = (
            ("HEREDOC_TEMPLATE_TRIM", re.compile("<<-" + marker)),
            ("HEREDOC_TEMPLATE", re.compile("<<" + marker)),
        )
    for kind, pattern in _HEREDOC_PATTERNS:
        found = pattern.match(text, pos)
        if found:
            return found.end(), kind
    raise Decline


def number(text: str, pos: int) -> Optional[tuple[int, str]]:
    """hcl2.lark's FLOAT_LITERAL or INT_LITERAL at `pos` (end, type), tried in the order
    lark's lexer tries them, both before MINUS: a sign is part of a literal when one
    matches with it. INT_LITERAL takes a sign only before two digits or more: `-1.5`
    and `-42` are literals, `-4` is MINUS and 4, and after an operand `a -42` is an
    operand too (a syntax error)."""
    global _NUMBERS
    if _NUMBERS is None:
        import re

        mantissa = r"(?:(?:-[0-9])?[0-9]+|(?:-[0-9])+)"
        exponent = r"[eE][+-]?[0-9]+"
        _NUMBERS = (
            (
                "FLOAT_LITERAL",
                re.compile(f"{mantissa}\\.[0-9]+(?:{exponent})?|{mantissa}{exponent}"),
            ),
            ("INT_LITERAL", re.compile(r"(?:-[0-9])?[0-9]+")),
        )
    for kind, pattern in _NUMBERS:
        found = pattern.match(text, pos)
        if found:
            return found.end(), kind
    return None


def _comment(text: str, pos: int) -> int:
    """The end of one NL_OR_COMMENT: `\\n[ \\t]*`, `#...\\n` or `//...\\n`."""
    if text[pos] == "\n":
        end = pos + 1
        while end < len(text) and text[end] in " \t":
            end += 1
        return end
    end = text.find("\n", pos)
    if end < 0:
        raise Decline
    return end + 1


def string_chars(text: str, pos: int) -> int:
    """The end of one STRING_CHARS run from `pos`, matched with hcl2.lark's own pattern
    (its text runs to a quote, `${`, `$${`, `%{` or `%%{`; it may span lines). What the
    run stops at, other than a quote or `${`, is declined: the escaped interpolations
    and directives, a backslash before a new line."""
    global _STRING_CHARS
    if _STRING_CHARS is None:
        import re

        _STRING_CHARS = re.compile(
            r"(?:(?!\$\$\{)(?!\$\{)(?!%%\{)(?!%\{)[^\"\\]|\\.|(?:\$(?!\$?\{))|(?:%(?!%?\{)))+"
        )
    found = _STRING_CHARS.match(text, pos)
    if found is None:
        raise Decline
    end = found.end()
    if text[end] != '"' and not text.startswith("${", end):
        raise Decline
    return end
