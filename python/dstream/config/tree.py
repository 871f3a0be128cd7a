"""The parse tree dstream keeps of an HCL file: python-hcl2's Lark tree, copied into
two small classes of our own.

Why a copy: the parse tree cache (syntax.parses_to_tree) must load without importing
lark (its grammar loader, `regex`: about 40 ms on every `dstream` command, even when
nothing is parsed). These classes, stored through `freeze` and `thaw`, need only a cache
miss to import lark. They keep what the evaluator reads: a rule's name and children, a
terminal's type and text, and where each starts.
"""

from __future__ import annotations

from collections.abc import Iterator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Union

    from lark import Token as LarkToken
    from lark import Tree as LarkTree


class Token(str):
    """A terminal: the text it matched (the str itself), its type ("NAME", ...) and the
    1-based line and column where it starts."""

    type: str
    value: str
    line: Optional[int]
    column: Optional[int]

    def __new__(
        cls, type_: str, value: str, line: Optional[int] = None, column: Optional[int] = None
    ) -> Token:
        token = super().__new__(cls, value)
        token.type = type_
        token.value = str(value)
        token.line = line
        token.column = column
        return token


class Tree:
    """A rule: its name, its children, and where it starts (`line` is None when the
    rule matched nothing, as Lark's meta.empty says)."""

    __slots__ = ("children", "column", "data", "line")

    def __init__(
        self,
        data: str,
        # Any: Tree, Token or None (an optional part that matched nothing) as the HCL
        # grammar places them; the evaluator reads them by the grammar's shape.
        children: list[Any],
        line: Optional[int] = None,
        column: Optional[int] = None,
    ) -> None:
        self.data = data
        self.children = children
        self.line = line
        self.column = column

    def __repr__(self) -> str:
        return f"Tree({self.data!r}, {self.children!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Tree) and self.data == other.data and self.children == other.children
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like Lark's

    def iter_subtrees_topdown(self) -> Iterator[Tree]:
        """This tree and every subtree, parents before children, left to right."""
        stack: list[Tree] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(c for c in reversed(node.children) if isinstance(c, Tree))

    def find_data(self, data: str) -> Iterator[Tree]:
        return (t for t in self.iter_subtrees_topdown() if t.data == data)


if TYPE_CHECKING:
    Node = Union[Tree, Token]

    # A tree as builtins for `marshal` (the parse cache): a Tree is a tuple (data, children,
    # line, column), a Token a list [type, value, line, column], an absent part None.
    # marshal is built into the interpreter; pickle's import was ~8 M instructions of every
    # run (issue 22), and it reads only these types: no code runs while a file loads.
    Plain = tuple[str, tuple[Any, ...], Optional[int], Optional[int]]  # Any: Plain, list, None


def freeze(tree: Tree) -> Plain:
    def child(node: object) -> object:
        if isinstance(node, Tree):
            return freeze(node)
        if isinstance(node, Token):
            return [node.type, node.value, node.line, node.column]
        return node

    return (tree.data, tuple(child(c) for c in tree.children), tree.line, tree.column)


def thaw(plain: Plain) -> Tree:
    """The Tree `freeze` gave `plain`; TypeError or ValueError for anything else."""
    data, children, line, column = plain
    return Tree(data, [_thawed(c) for c in children], line, column)


def _thawed(node: object) -> object:
    if isinstance(node, tuple):
        return thaw(node)
    if isinstance(node, list):
        return Token(*node)
    if node is not None:
        raise TypeError(f"not a frozen tree node: {type(node).__name__}")
    return None


def from_lark(node: LarkTree[LarkToken], max_depth: int) -> Tree:
    """Copy a Lark parse tree into these classes; a child that is neither a tree nor a
    token (the None of an absent optional part) is kept as it is. Only called after a
    parse, so lark is imported already. Iterative, and refuses (TooDeep) a tree deeper
    than `max_depth`: the recursive evaluator must never meet one."""
    from lark import Token as LarkToken
    from lark import Tree as LarkTree

    from dstream.config.limits import TooDeep

    def shallow(node: object) -> object:
        if isinstance(node, LarkTree):
            meta = node.meta
            empty = getattr(meta, "empty", True)
            line = None if empty else meta.line
            return Tree(str(node.data), [], line, None if empty else meta.column)
        if isinstance(node, LarkToken):
            return Token(str(node.type), str(node), node.line, node.column)
        return node

    root = shallow(node)
    if not isinstance(root, Tree):
        raise TypeError(f"from_lark copies a parse tree, not a {type(node).__name__}")
    stack: list[tuple[LarkTree[LarkToken], Tree, int, tuple[int, int]]] = [(node, root, 1, (0, 0))]
    while stack:
        source, copy, depth, where = stack.pop()
        if copy.line is not None:
            where = (copy.line, copy.column or 0)
        if depth > max_depth:
            reason = f"an expression nested more than {max_depth} levels deep"
            raise TooDeep(reason, line=where[0], column=where[1])
        for child in source.children:
            new = shallow(child)
            copy.children.append(new)
            if isinstance(new, Tree) and isinstance(child, LarkTree):
                stack.append((child, new, depth + 1, where))
    return root
