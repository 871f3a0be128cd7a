"""Where HCL v2 wants new lines, and where it refuses them (hclsyntax spec, "Structural
Elements" and "Expressions"). python-hcl2's grammar is looser, and config/quickparse.py
mirrors it, so these rules are checked on the tree either parser gives, before it is
cached (as config/literals.py checks quoted strings):

- an expression goes on over lines only inside `( )`, `[ ]`, a call's `( )`, `${ }` or a
  for expression: in an attribute's or an object item's value a new line ends it, so an
  operator may neither end a line nor start the next (`1\\n+ 2` is 3 to the grammar);
- an object's items are separated by a comma or a new line (`{ a = 1 b = 2 }`), and
  a comma goes on the line of the item before it: after a new line HCL wants the next
  item (`{ a = 1\\n, b = 2 }`; a list's or a call's may start a line).

Not checked (yet): HCL also wants each argument and block of a body to end its line
(`a = 1  b = 2`, `provider_path = "x"  config { }`), which the grammar reads and
`dstream fmt` breaks into lines.
"""

from __future__ import annotations

from dstream.config.literals import BadString
from dstream.config.quicklex import OPERATORS as LEXED_OPERATORS
from dstream.config.tree import Token, Tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Optional, Union

    Item = Union[Tree, Token, None]  # None: a line break

# Terminals that join two operands (the binary operators the quick lexer names, and the
# conditional's): a line may neither start nor end with one.
OPERATORS = (frozenset(LEXED_OPERATORS) - {"NOT"}) | {"QMARK", "COLON"}
# Rules inside which HCL ignores new lines (or which are one terminal, or a string):
# read as one item of the expression around them.
WHOLE = frozenset(
    {
        "tuple", "object", "function_call", "braces_index", "string", "heredoc_template",
        "heredoc_template_trim", "template_string", "for_tuple_expr", "for_object_expr",
    }
)  # fmt: skip
OVER_LINES_HINT = (
    "outside ( ) and [ ] a new line ends an expression, as in HCL: join the lines, or "
    "wrap the expression in ( ) to write it over several lines"
)


class BadLayout(BadString):
    """A text HCL v2 refuses for its new lines, at a line and column of the parsed text;
    the caller places it in the file as a refused quoted string (config/syntax.py, a
    heredoc's interpolation), which catches both as BadString: this module is loaded
    only to parse a text, not by a start whose trees are cached."""


def check_layout(tree: Tree) -> None:
    """Raise BadLayout for the first place in `tree` where HCL v2 refuses a new line in
    an expression or wants one between an object's items."""
    for node in tree.iter_subtrees_topdown():
        if node.data == "attribute":
            _check_expression(node.children[-1])
        elif node.data == "object":
            _check_object(node)


def _check_expression(expression: Union[Tree, Token]) -> None:
    before: Item = None  # the last item before a line break, once there was one
    broken = False
    for item in _items(expression):
        if item is None:
            broken = True
            continue
        if not broken:
            before = item
            continue
        if _is_operator(item):
            assert isinstance(item, Token)
            reason = f"`{_operator_text(item)}` cannot start a line outside parentheses"
        elif _is_operator(before):
            assert isinstance(before, Token)
            reason = f"a line cannot end with `{_operator_text(before)}` outside parentheses"
            item = before
        else:
            reason = "an expression cannot go on over lines outside parentheses"
        raise BadLayout(reason, OVER_LINES_HINT, *_position(item))


def _items(node: Union[Tree, Token, None]) -> Iterator[Item]:
    """The terminals and WHOLE rules of an expression in order, None for a line break
    (python-hcl2's lexer puts one before an operator into the operator's token)."""
    if node is None:
        return
    if isinstance(node, Token):
        if node.type == "NL_OR_COMMENT":
            yield None
        elif "\n" in node.value and node.type in OPERATORS:
            yield None
            yield node
        else:
            yield node
    elif node.data == "new_line_or_comment":
        yield None
    elif node.data in WHOLE or _parenthesised(node):
        yield node
    else:
        for child in node.children:
            yield from _items(child)


def _parenthesised(node: Tree) -> bool:
    first = node.children[0] if node.children else None
    return node.data == "expr_term" and isinstance(first, Token) and first.type == "LPAR"


def _is_operator(item: Item) -> bool:
    return isinstance(item, Token) and item.type in OPERATORS


def _operator_text(token: Token) -> str:
    return token.value.rsplit("\n", 1)[-1].strip()


def _position(node: Union[Tree, Token]) -> tuple[int, int]:
    """Where `node` starts (an operator's token keeps its own place when python-hcl2's
    lexer puts the line break before it into its text)."""
    if isinstance(node, Token):
        return node.line or 1, node.column or 1
    if node.line is not None:
        return node.line, node.column or 1
    for child in node.children:
        if isinstance(child, (Tree, Token)):
            return _position(child)
    return 1, 1


def _check_object(node: Tree) -> None:
    """Its items apart by a comma or a new line, a comma on the line of the item before
    it; each value (and key) one line's."""
    previous: Optional[Tree] = None  # the item before, with nothing between yet
    broken = False  # a line break since the item before
    for child in node.children:
        if isinstance(child, Token) and child.type == "COMMA" and broken:
            raise BadLayout(
                "a comma cannot start a line between an object's items: a new line "
                "already ends the item before it",
                "move the `,` to the end of the line before, or drop it: a new line "
                "alone separates an object's items",
                *_position(child),
            )
        if isinstance(child, Tree) and child.data == "new_line_or_comment":
            broken = True
        if isinstance(child, Tree) and child.data == "object_elem":
            broken = _ends_line(child)
            if previous is not None and not _ends_line(previous):
                raise BadLayout(
                    "an object's items must be separated by a comma or a new line",
                    "write `{ a = 1, b = 2 }`, or each item on a line of its own",
                    *_position(child),
                )
            for part in child.children:
                if isinstance(part, Tree) and part.data == "object_elem_key":
                    _check_expression(part)
            _check_expression(child.children[-1])
            previous = child
        elif child is not None:  # a comma or a new line
            previous = None


def _ends_line(node: Union[Tree, Token]) -> bool:
    """Whether `node`'s last terminal is a line break (a heredoc ends with one too)."""
    last: Union[Tree, Token, None] = node
    while isinstance(last, Tree):
        last = next((c for c in reversed(last.children) if c is not None), None)
    return isinstance(last, Token) and (last.type == "NL_OR_COMMENT" or last.value.endswith("\n"))
