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

check_lines checks the other rule of new lines HCL has and the grammar has not: each
attribute and block of a body ends its line (`a = 1  b = 2`, `provider_path = "x"
config { }`, `} locals {`), but for a one-line block (no new line after its `{`), which
holds one attribute at most, no block, and closes on its line (`output { path = "x" }`).
`dstream fmt` repairs what it refuses, so fmt reads a text without it
(syntax.parses_to_tree, `own_lines`).
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

LINES_HINT = (
    "HCL ends each attribute and block with a new line: start a new line before it "
    "(`dstream fmt` does it for you)"
)
ONE_LINE_HINT = (
    "write the block over several lines, each attribute and block on a line of its own "
    "(`dstream fmt` does it for you)"
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


def check_lines(tree: Tree) -> None:
    """Raise BadLayout for the first attribute or block of a body that does not end its
    line, or the first item of a one-line block that breaks its rules."""
    for node in tree.iter_subtrees_topdown():
        if node.data not in ("start", "block"):
            continue
        body = next(c for c in node.children if isinstance(c, Tree) and c.data == "body")
        closing = node.children[-1] if node.data == "block" else None
        assert closing is None or isinstance(closing, Token)
        items = [c for c in body.children if c is not None]
        if closing is not None and items and not _is_new_line(items[0]):
            _check_one_line(items, closing)
        else:
            _check_body(items, closing)


def _check_body(items: list[Union[Tree, Token]], closing: Optional[Token]) -> None:
    """Each attribute and block ends its line: a new line (or a comment) comes after it,
    or the end of the file; never the next item or the block's `}`."""
    for item, after in zip(items, [*items[1:], closing]):
        if after is None or _is_new_line(item) or _is_new_line(after) or _ends_line(item):
            continue
        shown = "the block's `}`" if after is closing else _kind(after)
        raise BadLayout(
            f"{shown} cannot follow {_kind(item)} on the same line",
            LINES_HINT,
            *_position(after),
        )


def _check_one_line(items: list[Union[Tree, Token]], closing: Token) -> None:
    """A one-line block: one attribute at most, no block, its `}` right after."""
    for index, item in enumerate(items):
        if isinstance(item, Tree) and item.data == "block":
            raise BadLayout("a one-line block cannot hold a block", ONE_LINE_HINT, *_position(item))
        if index and not _is_new_line(item):
            raise BadLayout(
                "a one-line block holds one attribute at most", ONE_LINE_HINT, *_position(item)
            )
    if len(items) > 1 or _ends_line(items[0]):
        raise BadLayout(
            "a one-line block must close on its line: its `{` has no new line after it",
            ONE_LINE_HINT,
            *_position(closing),
        )


def _is_new_line(node: Union[Tree, Token]) -> bool:
    return isinstance(node, Tree) and node.data == "new_line_or_comment"


def _kind(item: Union[Tree, Token]) -> str:
    return "a block" if isinstance(item, Tree) and item.data == "block" else "an attribute"


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
