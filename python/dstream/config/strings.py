"""HCL strings: quoted templates with `${}` interpolation and `%{if}`/`%{for}` directives,
and heredocs (`<<EOT`, `<<-EOT`). The evaluator (config/evaluate.py) hands each string
node here with itself, for the expressions inside.
"""

from __future__ import annotations

import re

from dstream.config.functions import to_string
from dstream.config.limits import TooDeep
from dstream.config.syntax import parses_to_tree, trees
from dstream.config.tree import Token, Tree
from dstream.errors import ConfigError
from dstream.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.config.evaluate import Evaluator
    from dstream.config.tree import Node
    from dstream.protocol.values import JsonValue

DIRECTIVES = ("if", "else", "endif", "for", "endfor")
DIRECTIVE_HINT = "pair each %{if} with %{endif} and each %{for} with %{endfor}"


@record
class _Part:
    """One piece of a template: literal text, an interpolation, or a directive."""

    kind: str  # "text", "interp", or one of DIRECTIVES
    node: Tree  # the expression (interp), the directive, or the whole string (text)
    text: str = ""
    strip_left: bool = False  # `%{~ ...}`: trim the white space before it
    strip_right: bool = False  # `%{ ... ~}`: trim the white space after it


def quoted(evaluator: Evaluator, node: Tree) -> JsonValue:
    """A quoted string: "${x}" alone is x itself, whatever its type; anything else is
    rendered to text."""
    pieces = [c for c in node.children if isinstance(c, Tree) and c.data == "string_part"]
    parts = _parts([p.children[0] for p in pieces], node)
    if len(parts) == 1 and parts[0].kind == "interp":
        return evaluator.eval(parts[0].node)
    _strip_around_directives(parts)
    text, _end = _render(evaluator, parts, 0, node, stop=())
    return text


def directive_string(node: Tree) -> str:
    """A quoted string inside a directive: \\"...\\"."""
    return unescape(str(node.children[0])[2:-2])


def _parts(children: list[Node], node: Tree) -> list[_Part]:
    parts: list[_Part] = []
    for child in children:
        if isinstance(child, Token):
            if child.type in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
                parts.append(_Part("text", node, str(child.value)[1:]))
            else:
                parts.append(_Part("text", node, unescape(str(child.value))))
        elif child.data == "interpolation":
            parts.append(_Part("interp", trees(child)[0]))
        else:
            tokens = [str(t) for t in child.children if isinstance(t, Token)]
            strip_left = len(tokens) > 1 and tokens[1] == "~"
            strip_right = len(tokens) > 1 and tokens[-2] == "~"
            kind = child.data.replace("template_", "").replace("_start", "")
            parts.append(_Part(kind, child, strip_left=strip_left, strip_right=strip_right))
    return parts


def _strip_around_directives(parts: list[_Part]) -> None:
    for index, part in enumerate(parts):
        if part.kind not in DIRECTIVES:
            continue
        if part.strip_left and index > 0 and parts[index - 1].kind == "text":
            parts[index - 1].text = parts[index - 1].text.rstrip()
        if part.strip_right and index + 1 < len(parts) and parts[index + 1].kind == "text":
            parts[index + 1].text = parts[index + 1].text.lstrip()


def _render(
    evaluator: Evaluator, parts: list[_Part], start: int, node: Tree, stop: tuple[str, ...]
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
            out.append(part.text)
            index += 1
        elif part.kind == "interp":
            out.append(interpolated(evaluator, part.node))
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


def _render_if(evaluator: Evaluator, parts: list[_Part], index: int, node: Tree) -> tuple[str, int]:
    opener = parts[index].node
    condition = evaluator.boolean(trees(opener)[0])
    then_text, index = _render(evaluator, parts, index + 1, node, ("else", "endif"))
    else_text = ""
    if index < len(parts) and parts[index].kind == "else":
        else_text, index = _render(evaluator, parts, index + 1, node, ("endif",))
    if index >= len(parts):
        raise evaluator.fail(opener, "%{if} without %{endif}", DIRECTIVE_HINT)
    return (then_text if condition else else_text), index + 1


def _render_for(
    evaluator: Evaluator, parts: list[_Part], index: int, node: Tree
) -> tuple[str, int]:
    opener = parts[index].node
    names = [str(t.children[0]) for t in trees(opener) if t.data == "identifier"]
    collection_node = trees(opener)[-1]
    collection = evaluator.eval(collection_node)
    end = _matching_endfor(evaluator, parts, index + 1, opener)
    out: list[str] = []
    for key, value in evaluator.pairs(collection, collection_node):
        bound = {names[0]: value} if len(names) == 1 else {names[0]: key, names[1]: value}
        text, _ = _render(evaluator.child(bound), parts, index + 1, node, ("endfor",))
        out.append(text)
    return "".join(out), end + 1


def _matching_endfor(evaluator: Evaluator, parts: list[_Part], start: int, opener: Tree) -> int:
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


def heredoc(evaluator: Evaluator, node: Tree, trim: bool) -> str:
    """A heredoc's text; `trim` (`<<-`) removes the indentation its lines share."""
    lines = str(node.children[0]).split("\n")
    body_lines = lines[1:-2]  # drop `<<EOT` and the closing marker line
    if trim:
        indents = [len(line) - len(line.lstrip()) for line in body_lines if line.strip()]
        cut = min(indents) if indents else 0
        body_lines = [line[cut:] for line in body_lines]
    body = "\n".join(body_lines) + ("\n" if body_lines else "")
    return _heredoc_body(evaluator, body, node)


def _heredoc_body(evaluator: Evaluator, body: str, node: Tree) -> str:
    # The parser keeps a heredoc as one token: its interpolations are found (and
    # parsed) here.
    out: list[str] = []
    index = 0
    while index < len(body):
        if body.startswith("$${", index) or body.startswith("%%{", index):
            out.append(body[index + 1 : index + 3])
            index += 3
        elif body.startswith("${", index):
            end = _closing_brace(body, index + 2)
            if end < 0:
                raise evaluator.fail(
                    node, "heredoc has a `${` without its `}`", "close the interpolation: ${...}"
                )
            out.append(_heredoc_interpolation(evaluator, body[index : end + 1], node))
            index = end + 1
        elif body.startswith("%{", index):
            raise evaluator.fail(
                node,
                "%{ } directives are not supported in heredocs",
                "use a quoted string for %{if}/%{for}, or a for expression with join()",
            )
        else:
            out.append(body[index])
            index += 1
    return "".join(out)


def _heredoc_interpolation(evaluator: Evaluator, text: str, node: Tree) -> str:
    """`text` is `${...}` from a heredoc: parse and render it."""
    try:
        tree = parses_to_tree(f"x = ({text[2:-1]})\n")
    except TooDeep as exc:
        raise evaluator.fail(
            node, f"a heredoc interpolation is {exc.reason}", "use a shorter expression"
        ) from None
    except Exception:
        raise evaluator.fail(
            node,
            f"heredoc interpolation {text!r} is not valid",
            "write an expression inside ${...}, as in an attribute's value",
        ) from None
    attribute = next(tree.find_data("attribute"))
    # The expression was re-parsed from the heredoc text: its positions are relative,
    # so errors point at the heredoc itself.
    try:
        return interpolated(evaluator, attribute.children[-1])
    except ConfigError as exc:
        exc.location = evaluator.where(node)
        raise


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


_ESCAPE = r"(?s)\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)"
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def unescape(text: str) -> str:
    """HCL's escapes in a quoted string: \\n, \\t, \\r, \\", \\\\, \\uNNNN, \\UNNNNNNNN;
    an unknown escape is kept as written."""
    if "\\" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "uU" and len(code) > 1:
            return chr(int(code[1:], 16))
        return _SIMPLE_ESCAPES.get(code, "\\" + code)

    return re.sub(_ESCAPE, replace, text)
