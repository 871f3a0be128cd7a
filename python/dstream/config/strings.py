"""HCL strings: quoted templates with `${}` interpolation and `%{if}`/`%{for}` directives,
and heredocs (`<<EOT`, `<<-EOT`). The evaluator (config/evaluate.py) hands each string
node here with itself, for the expressions inside.
"""

from __future__ import annotations

import bisect
import re

from dstream.config.functions import to_string
from dstream.config.limits import TooDeep
from dstream.config.literals import BadString, text_of, unescape
from dstream.config.nfc import nfc_text
from dstream.config.syntax import parse_problem, parses_to_tree, trees
from dstream.config.tree import Token, Tree
from dstream.errors import ConfigError
from dstream.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.config.evaluate import Evaluator
    from dstream.config.model import Location
    from dstream.config.tree import Node
    from dstream.protocol.values import JsonValue

DIRECTIVES = ("if", "else", "endif", "for", "endfor")
DIRECTIVE_HINT = "pair each %{if} with %{endif} and each %{for} with %{endfor}"


@record
class _Part:
    """One piece of a template: literal text, an interpolation, or a directive."""

    kind: str  # "text", "interp", or one of DIRECTIVES
    node: Node  # where it is: the expression (interp), the directive, or the string (text)
    text: str = ""
    strip_left: bool = False  # `%{~ ...}`: trim the white space before it
    strip_right: bool = False  # `%{ ... ~}`: trim the white space after it
    expr: Optional[Node] = None  # interp: its expression; if: the condition; for: the collection
    names: tuple[str, ...] = ()  # for: the one or two names it binds


def quoted(evaluator: Evaluator, node: Tree) -> JsonValue:
    """A quoted string: "${x}" alone is x itself, whatever its type; anything else is
    rendered to text."""
    pieces = [c for c in node.children if isinstance(c, Tree) and c.data == "string_part"]
    parts = _parts([p.children[0] for p in pieces], node)
    if len(parts) == 1 and parts[0].kind == "interp":
        return evaluator.eval(parts[0].node)
    _strip_markers(parts)
    text, _end = _render(evaluator, parts, 0, node, stop=())
    return text


def directive_string(node: Tree) -> str:
    """A quoted string inside a directive: \\"...\\"."""
    return unescape(str(node.children[0])[2:-2])


def _parts(children: list[Node], node: Tree) -> list[_Part]:
    parts: list[_Part] = []
    for child in children:
        if isinstance(child, Token):
            parts.append(_Part("text", node, text_of(child)))
        elif child.data == "interpolation":
            expr = trees(child)[0]
            braces = [str(t) for t in child.children if isinstance(t, Token)]
            part = _Part("interp", expr, expr=expr, strip_left=braces[0] == "${~")
            part.strip_right = braces[-1] == "~}"  # marked by config/gaps.py
            parts.append(part)
        else:
            tokens = [str(t) for t in child.children if isinstance(t, Token)]
            kind = child.data.replace("template_", "").replace("_start", "")
            inside = trees(child)
            names = [str(t.children[0]) for t in inside if t.data == "identifier"]
            part = _Part(kind, child, strip_left=len(tokens) > 1 and tokens[1] == "~")
            part.strip_right = len(tokens) > 1 and tokens[-2] == "~"
            part.expr, part.names = (inside[-1] if inside else None), tuple(names)
            parts.append(part)
    return parts


# White space as HCL trims it (Go's unicode.IsSpace, Unicode's White_Space): str.strip()
# would take the separators U+001C-U+001F too.
_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _strip_markers(parts: list[_Part]) -> None:
    """`~` beside a directive's or an interpolation's brace trims the white space
    (line breaks too) of the one piece of text on that side, if the part there is
    text: a quoted string's text between two sequences, a heredoc's piece of a line
    (_heredoc_parts), as HCL's template parser trims its one literal token."""
    for index, part in enumerate(parts):
        if part.kind == "text":
            continue
        if part.strip_left and index > 0 and parts[index - 1].kind == "text":
            parts[index - 1].text = parts[index - 1].text.rstrip(_SPACE)
        if part.strip_right and index + 1 < len(parts) and parts[index + 1].kind == "text":
            parts[index + 1].text = parts[index + 1].text.lstrip(_SPACE)


def _render(
    evaluator: Evaluator, parts: list[_Part], start: int, node: Node, stop: tuple[str, ...]
) -> tuple[str, int]:
    """Render parts from `start` up to the first directive in `stop`; returns the text
    and the index of that directive."""
    out: list[str] = []
    index = start
    while index < len(parts):
        part = parts[index]
        if part.kind in stop:
            return "".join(out), index
        if part.kind == "text":
            out.append(nfc_text(part.text))  # what the file spells (config/nfc.py)
            index += 1
        elif part.kind == "interp":
            out.append(interpolated(evaluator, _expr(part)))
            index += 1
        elif part.kind == "if":
            text, index = _render_if(evaluator, parts, index, node)
            out.append(text)
        elif part.kind == "for":
            text, index = _render_for(evaluator, parts, index, node)
            out.append(text)
        else:
            raise evaluator.fail(
                part.node,
                f"%{{{part.kind}}} without its opening directive",
                DIRECTIVE_HINT,
            )
    if stop:
        raise evaluator.fail(node, f"template is missing %{{{stop[-1]}}}", DIRECTIVE_HINT)
    return "".join(out), index


def _render_if(evaluator: Evaluator, parts: list[_Part], index: int, node: Node) -> tuple[str, int]:
    opener = parts[index].node
    condition = evaluator.boolean(_expr(parts[index]))
    then_text, index = _render(evaluator, parts, index + 1, node, ("else", "endif"))
    else_text = ""
    if index < len(parts) and parts[index].kind == "else":
        else_text, index = _render(evaluator, parts, index + 1, node, ("endif",))
    if index >= len(parts):
        raise evaluator.fail(opener, "%{if} without %{endif}", DIRECTIVE_HINT)
    return (then_text if condition else else_text), index + 1


def _render_for(
    evaluator: Evaluator, parts: list[_Part], index: int, node: Node
) -> tuple[str, int]:
    opener, names = parts[index].node, parts[index].names
    collection_node = _expr(parts[index])
    collection = evaluator.eval(collection_node)
    end = _matching_endfor(evaluator, parts, index + 1, opener)
    out: list[str] = []
    for key, value in evaluator.pairs(collection, collection_node):
        bound = {names[0]: value} if len(names) == 1 else {names[0]: key, names[1]: value}
        text, _ = _render(evaluator.child(bound), parts, index + 1, node, ("endfor",))
        out.append(text)
    return "".join(out), end + 1


def _expr(part: _Part) -> Node:
    if part.expr is None:  # the grammar gives every interp, if and for its expression
        raise TypeError(f"a template's %{{{part.kind}}} has no expression")
    return part.expr


def _matching_endfor(evaluator: Evaluator, parts: list[_Part], start: int, opener: Node) -> int:
    depth = 0
    for index in range(start, len(parts)):
        if parts[index].kind == "for":
            depth += 1
        elif parts[index].kind == "endfor":
            if depth == 0:
                return index
            depth -= 1
    raise evaluator.fail(opener, "%{for} without %{endfor}", DIRECTIVE_HINT)


def interpolated(evaluator: Evaluator, node: Node) -> str:
    """The text `${node}` puts into a template."""
    value = evaluator.eval(node)
    if value is None:
        raise evaluator.fail(node, "a template interpolates null", 'use coalesce(x, "")')
    return evaluator.convert(
        node,
        to_string,
        value,
        "an interpolated value",
        "${ } takes a string, number or bool: jsonencode() writes any value as text",
    )


# -- heredocs ----------------------------------------------------------------------------

# A heredoc's interpolation is parsed on its own, as this attribute's value: the
# parentheses let it span lines, as it may.
_WRAP = "x = ({})\n"
_WRAP_OFFSET = _WRAP.index("{")


@record
class _Heredoc:
    """A heredoc's text, and where its lines are in the parsed file."""

    body: str
    starts: list[int]  # the offset in `body` where each line starts
    first_line: int  # the file's line of the body's first line

    def position(self, offset: int) -> tuple[int, int]:
        """The line and column of character `offset` of the body, in the file."""
        index = max(bisect.bisect_right(self.starts, offset) - 1, 0)
        return self.first_line + index, offset - self.starts[index] + 1


def heredoc(evaluator: Evaluator, node: Tree, trim: bool) -> str:
    """A heredoc's text; `trim` (`<<-`) removes the indentation its lines share."""
    token = node.children[0]
    body_lines = str(token).split("\n")[1:-2]  # drop `<<EOT` and the closing marker line
    starts, offset = [], 0
    for line in body_lines:
        starts.append(offset)
        offset += len(line) + 1
    body = "\n".join(body_lines) + ("\n" if body_lines else "")
    opener = token.line if isinstance(token, Token) and token.line else node.line or 1
    doc = _Heredoc(body, starts or [0], opener + 1)
    parts = _heredoc_parts(evaluator, doc, node)
    _strip_markers(parts)
    if trim:
        _flush(parts)
    text, _end = _render(evaluator, parts, 0, node, stop=())
    return text


def _flush(parts: list[_Part]) -> None:
    """`<<-`: as HCL, after the strip markers, the fewest white space characters that
    begin a piece of text starting a line (a line of white space only aside) are
    removed from each such piece. A line starting with a sequence, or with a piece a
    marker trimmed to nothing, counts as none: nothing is removed then."""
    fewest: Optional[int] = None
    starting: list[_Part] = []  # the pieces of text that start a line
    new_line = True
    for part in parts:
        if new_line:
            spaces = 0
            if part.kind == "text":
                rest = part.text.lstrip(_SPACE)
                if not rest and part.text.endswith("\n"):
                    spaces = -1  # a blank line: not counted
                else:
                    spaces = len(part.text) - len(rest)
                    starting.append(part)
            if spaces >= 0:
                fewest = spaces if fewest is None else min(fewest, spaces)
        new_line = part.kind == "text" and part.text.endswith("\n")
    for part in starting:
        part.text = part.text[fewest or 0 :]


def _heredoc_parts(evaluator: Evaluator, doc: _Heredoc, node: Tree) -> list[_Part]:
    # The parser keeps a heredoc as one token: its interpolations and directives are
    # found (and parsed) here.
    body = doc.body
    parts: list[_Part] = []
    text: list[str] = []
    index = 0
    while index < len(body):
        if body.startswith("$${", index) or body.startswith("%%{", index):
            text.append(body[index + 1 : index + 3])
            index += 3
        elif body.startswith("${", index) or body.startswith("%{", index):
            end = _closing_brace(body, index + 2)
            if end < 0:
                raise ConfigError(
                    f"heredoc has a `{body[index : index + 2]}` without its `}}`",
                    location=_at(evaluator, doc, index),
                    hint="close it: ${...} or %{...}",
                )
            parts += _line_pieces("".join(text), node)
            text = []
            if body[index] == "$":
                parts.append(_heredoc_interpolation(evaluator, doc, index, end))
            else:
                parts.append(_heredoc_directive(evaluator, doc, index, end))
            index = end + 1
        else:
            text.append(body[index])
            index += 1
    parts += _line_pieces("".join(text), node)
    return parts


def _line_pieces(text: str, node: Tree) -> list[_Part]:
    """A heredoc's text between two sequences as HCL reads it: a piece per line, each
    with its line break (none when empty). The strip markers and `<<-` act on pieces."""
    lines = text.split("\n")  # only "\n" ends a line (a "\r" before it stays its text)
    pieces = [line + "\n" for line in lines[:-1]] + lines[-1:]
    return [_Part("text", node, piece) for piece in pieces if piece]


# `%{ for k, v in coll }` up to `in`: the collection's expression starts where it ends.
_FOR_HEAD = r"\s*for\s+([^\W\d][\w-]*)(?:\s*,\s*([^\W\d][\w-]*))?\s+in(?![\w-])"
_KEYWORD = r"\s*(\w+)"


def _heredoc_interpolation(evaluator: Evaluator, doc: _Heredoc, start: int, end: int) -> _Part:
    """The `${ ... }` from `start` to `end` (its `}`) of the heredoc's body."""
    inner_start, inner_end, strip_left, strip_right = _strip_marks(doc.body, start, end)
    expr = _heredoc_expression(evaluator, doc, inner_start, inner_end)
    return _Part("interp", expr, expr=expr, strip_left=strip_left, strip_right=strip_right)


def _strip_marks(body: str, start: int, end: int) -> tuple[int, int, bool, bool]:
    """The inside of the `${`/`%{` at `start` closed at `end`, without its strip
    markers, and whether it has each."""
    inner_start, inner_end = start + 2, end
    strip_left = body.startswith("~", inner_start)
    if strip_left:
        inner_start += 1
    strip_right = body[inner_start:inner_end].rstrip().endswith("~")
    if strip_right:
        inner_end = body.rindex("~", inner_start, inner_end)
    return inner_start, inner_end, strip_left, strip_right


def _heredoc_directive(evaluator: Evaluator, doc: _Heredoc, start: int, end: int) -> _Part:
    """The `%{ ... }` from `start` to `end` (its `}`) of the heredoc's body."""
    inner_start, inner_end, strip_left, strip_right = _strip_marks(doc.body, start, end)
    where = Tree("template_directive", [], *doc.position(start))
    keyword = re.compile(_KEYWORD).match(doc.body, inner_start, inner_end)
    kind, after = (keyword.group(1), keyword.end()) if keyword else ("", inner_start)
    part = _Part(kind, where, strip_left=strip_left, strip_right=strip_right)
    if kind == "if":
        part.expr = _heredoc_expression(evaluator, doc, after, inner_end)
    elif kind == "for":
        bound = re.compile(_FOR_HEAD).match(doc.body, inner_start, inner_end)
        if bound is None:
            raise evaluator.fail(
                where,
                "a %{for} needs `for NAME in` or `for KEY, VALUE in`",
                "write %{ for NAME in LIST } ... %{ endfor }",
            )
        part.names = tuple(name for name in bound.group(1, 2) if name)
        part.expr = _heredoc_expression(evaluator, doc, bound.end(), inner_end)
    elif kind not in DIRECTIVES or doc.body[after:inner_end].strip():
        raise evaluator.fail(
            where,
            f"{doc.body[start : end + 1]!r} is no template directive",
            "a directive is %{if COND}, %{else}, %{endif}, %{for X in LIST} or %{endfor}; "
            "write %%{ for a literal %{",
        )
    return part


def _at(evaluator: Evaluator, doc: _Heredoc, offset: int) -> Location:
    return evaluator.source.source_map.location(*doc.position(offset))


def _heredoc_expression(evaluator: Evaluator, doc: _Heredoc, start: int, end: int) -> Node:
    """Parse the expression from `start` to `end` of the heredoc's body (inside a `${ }`
    or after a directive's keyword); every error, in the expression or later in its
    value, is placed where it is in the file."""
    snippet = _WRAP.format(doc.body[start:end])
    lines = [0] + [i + 1 for i, char in enumerate(snippet) if char == "\n"]

    def place(line: int, column: int) -> tuple[int, int]:
        offset = lines[min(max(line, 1), len(lines)) - 1] + max(column, 1) - 1
        return doc.position(min(max(start + offset - _WRAP_OFFSET, start), end))

    def fail(reason: str, hint: str, line: int, column: int) -> ConfigError:
        location = evaluator.source.source_map.location(*place(line, column))
        return ConfigError(reason, location=location, hint=hint)

    try:
        tree = parses_to_tree(snippet)
    except TooDeep as exc:
        raise fail(
            f"a heredoc interpolation is {exc.reason}",
            "use a shorter expression",
            *exc.position(snippet),
        ) from None
    except BadString as exc:  # BadLayout too (config/layout.py)
        raise fail(exc.reason, exc.hint, exc.line, exc.column) from None
    except Exception as exc:
        from lark.exceptions import UnexpectedInput  # only a parse raises it: lark is in

        if not isinstance(exc, UnexpectedInput):
            raise
        reason, hint = parse_problem(exc)
        line, column = getattr(exc, "line", 1) or 1, getattr(exc, "column", 1) or 1
        raise fail(f"syntax error: {reason}", hint, line, column) from None
    value = next(tree.find_data("attribute")).children[-1]
    opening = value.children[0] if isinstance(value, Tree) and value.data == "expr_term" else None
    if not (isinstance(opening, Token) and (opening.line, opening.column) == (1, _WRAP_OFFSET)):
        raise ConfigError(  # `${a) + (b}`: the wrapping parentheses hold no one expression
            f"heredoc expression {doc.body[start:end].strip()!r} is not one expression",
            location=_at(evaluator, doc, start),
            hint="write one expression, as in an attribute's value",
        )
    for subtree in tree.iter_subtrees_topdown():
        if subtree.line is not None:
            subtree.line, subtree.column = place(subtree.line, subtree.column or 1)
        for child in subtree.children:
            if isinstance(child, Token) and child.line is not None:
                child.line, child.column = place(child.line, child.column or 1)
    return trees(value)[0]  # inside the ( )


def _closing_brace(text: str, start: int) -> int:
    depth, index, quote = 0, start, False
    while index < len(text):
        ch = text[index]
        if quote:
            if ch == "\\":
                index += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return -1
