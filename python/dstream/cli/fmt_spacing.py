"""The spaces between the tokens of a line of code, as `terraform fmt` sets them
(hclwrite's formatSpaces and spaceAfterToken): one around binary operators, `=`, `=>`,
`?` and `:`, one after a comma and none before it, none inside `( )` and `[ ]`, none
around `.` and `::`, none between a function's name and its `(` or an expression and
its `[`, none after a negation's `-` or a `!`, one inside a `{ }` with content and none
in an empty `{}`. What HCL reads as one token passes through as written: a quoted
string (its `${ }` too: terraform fmt also respaces inside those; dstream keeps a
template's text as typed), a heredoc's opener, a `/* */` comment, a Go template action
`{{ ... }}` (config/templates.py). A line comment after the code is kept, one space
after it (cli/fmt.py aligns it). A line holding anything else (a text that does not
parse as HCL is never laid out: cli/fmt.py) is kept as it is.
"""

from __future__ import annotations

import regex

from dstream.config.quicklex import NAME_PATTERN

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

_BLANK = regex.compile(r"[ \t]+")
_NAME = regex.compile(NAME_PATTERN)
_NUMBER = regex.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# A heredoc's opening marker, its name group 1 (the whole line after it is its body).
HEREDOC_MARKER = regex.compile(rf"<<-?({NAME_PATTERN})[ \t]*$")
_BLOCK_COMMENT = regex.compile(r"/\*(?:[^*]|\*(?!/))*(?:\*/|$)")
# Longest first: `...` before `.`, `==` before `=`.
_PUNCTUATION = (
    "...", "::", "==", "!=", "<=", ">=", "&&", "||", "=>",
    "(", ")", "[", "]", "{", "}", ",", ".", "=", ":", "?", "!",
    "-", "+", "*", "/", "%", "<", ">",
)  # fmt: skip

# Token kinds beside the punctuation, which is its own kind.
NAME, NUMBER, STRING, HEREDOC, COMMENT, ACTION = (
    "name", "number", "string", "heredoc", "comment", "action"
)  # fmt: skip
OPENERS, CLOSERS = frozenset("([{"), frozenset(")]}")
# What a `-` after which is a negation's, not a subtraction's (hclwrite's list).
_BEFORE_NEGATION = frozenset(
    {"(", "{", "[", "=", ":", ",", "?", "+", "*", "/", "%", "-",
     "==", "!=", ">", ">=", "<", "<=", "&&", "||", "!"}
)  # fmt: skip

Token = tuple[str, str]  # (kind, text)


def respace(code: str) -> str:
    """`code` (a line without its indentation) with its tokens spaced as terraform fmt
    spaces them; as it is when it holds what this does not know."""
    tokens, comment = _tokens(code)
    if not tokens:
        return code
    out = [tokens[0][1]]
    for k in range(1, len(tokens)):
        before = tokens[k - 2] if k >= 2 else None
        if _space_after(tokens[k - 1], before, tokens[k]):
            out.append(" ")
        out.append(tokens[k][1])
    text = "".join(out)
    return f"{text} {comment}" if comment else text


def _tokens(code: str) -> tuple[Optional[list[Token]], str]:
    """The tokens of `code` and the line comment after them ("" if none); None for
    tokens when the line holds something else."""
    tokens: list[Token] = []
    i, n = 0, len(code)
    while i < n:
        blank = _BLANK.match(code, i)
        if blank:
            i = blank.end()
            continue
        ch = code[i]
        if ch == "#" or code.startswith("//", i):
            return tokens, code[i:]
        found = _token(code, i)
        if found is None:
            return None, ""
        tokens.append(found)
        i += len(found[1])
    return tokens, ""


def _token(code: str, i: int) -> Optional[Token]:
    ch = code[i]
    if ch == '"':
        return STRING, code[i : _string_end(code, i)]
    if code.startswith("/*", i):
        match = _BLOCK_COMMENT.match(code, i)
        assert match is not None  # it matches up to the line's end at least
        return COMMENT, match.group()
    if code.startswith("{{", i):
        end = _action_end(code, i)
        return (ACTION, code[i:end]) if end > 0 else None
    if code.startswith("<<", i):
        match = HEREDOC_MARKER.match(code, i)
        return (HEREDOC, match.group().rstrip()) if match else None
    for kind, pattern in ((NUMBER, _NUMBER), (NAME, _NAME)):
        match = pattern.match(code, i)
        if match:
            return kind, match.group()
    for text in _PUNCTUATION:
        if code.startswith(text, i):
            return text, text
    return None


def _string_end(code: str, i: int) -> int:
    """Where the quoted string starting at `i` ends: after its closing quote, or the
    line's end (a `${ }` or a `{{ }}` that goes on on the next line)."""
    open_: list[str] = ['"']
    i += 1
    while i < len(code) and open_:
        i = string_step(code, i, open_)
    return min(i, len(code))


def string_step(code: str, i: int, open_: list[str]) -> int:
    """One step in a quoted string or in an interpolation in one (whose brackets are
    no nesting of blocks), `open_` its stack (`"` a string, `{` an interpolation or a
    brace in one); the index after it. A Go template action (`{{ }}`) is one step: its
    quotes are its own."""
    ch = code[i]
    if open_[-1] == "{":  # in `${ }` / `%{ }`: an expression
        if ch == '"':
            open_.append('"')
        elif ch == "{":
            open_.append("{")
        elif ch == "}":
            open_.pop()  # a brace, or the interpolation itself
        return i + 1
    if ch == "\\":
        return i + 2
    if ch == '"':
        open_.pop()
        return i + 1
    if code.startswith("{{", i):
        return _action_end(code, i) or len(code)
    if code.startswith(("$${", "%%{"), i):
        return i + 3
    if code.startswith(("${", "%{"), i):
        open_.append("{")
        return i + 2
    return i + 1


def _action_end(code: str, i: int) -> int:
    """Where the Go template action starting at `i` ends (after its `}}`, strings in
    it skipped), or 0 if it does not end on this line."""
    j = i + 2
    while j < len(code):
        if code[j] == '"':
            j = _string_end(code, j)
        elif code.startswith("}}", j):
            return j + 2
        else:
            j += 1
    return 0


def _space_after(subject: Token, before: Optional[Token], after: Token) -> bool:
    """Whether one space goes between `subject` and `after` (hclwrite's
    spaceAfterToken; `before` is the token before `subject` on its line, if any)."""
    s, a = subject[0], after[0]
    if (s == NAME and a in ("(", "::")) or (s == "::" and a == NAME):
        return False  # a call, a provider function's name
    if "." in (s, a) or a in (",", "..."):
        return False
    if s == ",":
        return True
    if s == HEREDOC:
        return False
    if subject == (NAME, "in") and before is not None and before[0] == NAME:
        return True  # `for x in [1, 2]`: the keyword, not a name indexed
    if a == "[" and (s in (NAME, NUMBER) or s in CLOSERS):
        return False  # an index
    if s == "!":
        return False
    if s == "-":  # a negation's, unless it follows what ends an operand
        return before is not None and before[0] not in _BEFORE_NEGATION
    if s == "{" or a == "}":
        return not (s == "{" and a == "}")
    return s not in OPENERS and a not in CLOSERS  # else most tokens are space-separated
