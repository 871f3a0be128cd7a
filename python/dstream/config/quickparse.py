"""The common shape of an HCL file parsed without lark, into python-hcl2's own tree.

Why: importing lark and building python-hcl2's parser cost ~110 ms, paid by the first
command after every edit of a dstream.hcl (the parse cache keeps trees by content),
twice the start-up budget of issue 22. A configuration is mostly blocks, attributes,
strings and references, which a few hundred lines parse in a millisecond or two.

What it reads: blocks and attributes, comments, numbers, true/false/null, quoted strings
(over several lines too) with `${ }` interpolations, heredocs, names with `.attribute`
and `[index]` traversals, function calls, lists and objects over several lines,
parentheses, conditionals and the unary and binary operators. Anything else (`%{ }`
directives, for expressions, splats, a new line inside parentheses, and every syntax
error) it declines: `parse` returns None and lark parses the text as before, so every
error message still comes from there.

The tree must be lark's to the token: the same rules and terminals, positions, and new
lines where LALR puts them (one that ends an expression goes into its innermost open
binary operation). tests/config/test_quickparse.py compares the two on every
configuration in the repository and on generated ones. That holds for one grammar,
python-hcl2's hcl2.lark with GRAMMAR_CRC, whose NAME config/syntax.py widens to HCL v2's
identifiers (quicklex.NAME_PATTERN); config/syntax.py uses this parser only when the
installed grammar is that one.
"""

from __future__ import annotations

from functools import partial

from dstream.config.limits import MAX_TREE_DEPTH
from dstream.config.quicklex import EOF, Decline, Scanner, number, string_chars
from dstream.config.tree import Token, Tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Union

    Node = Union[Tree, Token]

# zlib.crc32 of the hcl2.lark this parser mirrors (python-hcl2 8.1.4).
GRAMMAR_CRC = 0x4496A315

# The binary operators by precedence, lowest first (hcl2.lark's ladder).
LEVELS = (
    frozenset({"DOUBLE_PIPE"}),
    frozenset({"DOUBLE_AMP"}),
    frozenset({"DOUBLE_EQ", "NEQ"}),
    frozenset({"LT", "GT", "LEQ", "GEQ"}),
    frozenset({"PLUS", "MINUS"}),
    frozenset({"ASTERISK", "SLASH", "PERCENT"}),
)
HEREDOCS = {
    "HEREDOC_TEMPLATE": "heredoc_template",
    "HEREDOC_TEMPLATE_TRIM": "heredoc_template_trim",
}


def parse(source: str) -> Optional[Tree]:
    """python-hcl2's tree of `source` (as hcl2.api.parses_to_tree gives it, which
    appends a new line), or None when this parser does not know the text."""
    if "\r" in source:  # CRLF: hcl2.lark treats \r apart in places; lark reads those
        return None
    try:
        tree = _Parser(source + "\n").start()
    except (Decline, IndexError, RecursionError):  # IndexError: text ended mid-terminal
        return None
    return tree if _depth(tree) <= MAX_TREE_DEPTH else None  # lark's path refuses it


def _depth(tree: Tree) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))
    return deepest


def _tree(data: str, children: list[Node]) -> Tree:
    """A rule, placed where its first token is (lark's propagate_positions)."""
    for child in children:
        if child.line is not None:
            return Tree(data, children, child.line, child.column)
    return Tree(data, children)


class _Parser:
    def __init__(self, text: str) -> None:
        self.scan = Scanner(text)

    def start(self) -> Tree:
        body = self.body(top=True)
        self.scan.take(EOF)
        return _tree("start", [body])

    # -- structure -----------------------------------------------------------------
    def body(self, *, top: bool) -> Tree:
        children: list[Node] = []
        end = EOF if top else "RBRACE"
        while True:
            kind = self.scan.peek().type
            if kind == "NL_OR_COMMENT":
                children.append(self.newlines())
            elif kind == "NAME":
                children.append(self.attribute_or_block())
            elif kind == end:
                return _tree("body", children)
            else:
                raise Decline

    def newlines(self) -> Tree:
        tokens: list[Node] = []
        while self.scan.peek().type == "NL_OR_COMMENT":
            tokens.append(self.scan.take())
        return _tree("new_line_or_comment", tokens)

    def attribute_or_block(self) -> Tree:
        name = self.identifier()
        if self.scan.peek().type == "EQ":
            eq = self.scan.take()
            return _tree("attribute", [name, eq, self.expression(lines=True)])
        children: list[Node] = [name]
        while True:
            kind = self.scan.peek().type
            if kind == "NAME":
                children.append(self.identifier())
            elif kind == "DBLQUOTE":
                children.append(self.string())
            else:
                break
        children.append(self.scan.take("LBRACE"))
        children.append(self.body(top=False))
        children.append(self.scan.take("RBRACE"))
        return _tree("block", children)

    def identifier(self) -> Tree:
        return _tree("identifier", [self.scan.take("NAME")])

    # -- expressions -----------------------------------------------------------------
    def expression(self, *, lines: bool) -> Node:
        """An expression; `lines`: a new line may follow it, which goes into the
        innermost binary operation that ends here, if there is one (LALR shifts it)."""
        expr = self.conditional()
        if self.scan.peek().type == "NL_OR_COMMENT":
            if not lines:
                raise Decline
            innermost = None
            node: Node = expr
            while isinstance(node, Tree):
                if node.data == "binary_op":
                    innermost = node
                    node = node.children[1].children[-1]
                elif node.data == "conditional":
                    node = node.children[-1]
                else:
                    break
            if innermost is not None:
                innermost.children.append(self.newlines())
        return expr

    def conditional(self) -> Node:
        """condition ? then : else, with new lines of its own after `?`, before and
        after `:` (one after `then` goes into an operation that ends it, if any)."""
        condition = self.binary(0)
        scan = self.scan
        if scan.peek().type != "QMARK":
            return condition
        children: list[Node] = [condition, scan.take()]
        self.maybe_newlines(children)
        children.append(self.expression(lines=True))
        self.maybe_newlines(children)
        children.append(scan.take("COLON"))
        self.maybe_newlines(children)
        children.append(self.conditional())
        return _tree("conditional", children)

    def binary(self, level: int) -> Node:
        if level == len(LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.scan.peek().type in LEVELS[level]:
            if self.scan.peek().type == "MINUS" and number(self.scan.text, self.scan.pos):
                raise Decline  # lark lexes `-42` here as a literal: a syntax error
            operator = _tree("binary_operator", [self.scan.take()])
            if self.scan.peek().type == "NL_OR_COMMENT":
                raise Decline
            right = self.binary(level + 1)
            left = _tree("binary_op", [left, _tree("binary_term", [operator, right])])
        return left

    def unary(self) -> Node:
        kind = self.scan.peek().type
        if kind == "MINUS":
            literal = self.scan.take_signed_number()
            if literal is not None:
                rule = "float_lit" if literal.type == "FLOAT_LITERAL" else "int_lit"
                return self.traversals(_tree("expr_term", [_tree(rule, [literal])]))
        if kind in ("NOT", "MINUS"):
            return _tree("unary_op", [self.scan.take(), self.term()])
        return self.term()

    def term(self) -> Tree:
        """An expr_term and the traversals after it (`.name`, `[index]`)."""
        scan = self.scan
        token = scan.peek()
        kind = token.type
        inner: Node
        if kind == "NAME":
            name = self.identifier()
            inner = self.call(name) if scan.peek().type == "LPAR" else name
        elif kind in ("TRUE", "FALSE", "NULL"):
            inner = _tree("literal_value", [scan.take()])
        elif kind == "INT_LITERAL":
            inner = _tree("int_lit", [scan.take()])
        elif kind == "FLOAT_LITERAL":
            inner = _tree("float_lit", [scan.take()])
        elif kind == "DBLQUOTE":
            inner = self.string()
        elif kind in HEREDOCS:
            inner = _tree(HEREDOCS[kind], [scan.take()])
        elif kind == "LSQB":
            inner = self.tuple()
        elif kind == "LBRACE":
            inner = self.object()
        elif kind == "LPAR":
            opening = scan.take()
            inside = self.expression(lines=False)
            term = _tree("expr_term", [opening, inside, scan.take("RPAR")])
            return self.traversals(term)
        else:
            raise Decline
        return self.traversals(_tree("expr_term", [inner]))

    def traversals(self, term: Tree) -> Tree:
        scan = self.scan
        while True:
            kind = scan.peek().type
            if kind == "DOT":
                get = _tree("get_attr", [scan.take(), self.identifier()])
                term = _tree("expr_term", [_tree("get_attr_expr_term", [term, get])])
            elif kind == "LSQB":
                opening = scan.take()
                index = self.expression(lines=False)
                braces = _tree("braces_index", [opening, index, scan.take("RSQB")])
                term = _tree("expr_term", [_tree("index_expr_term", [term, braces])])
            else:
                return term

    def call(self, name: Tree) -> Tree:
        """name ( arguments ): new lines after `(` are the call's, the others the
        arguments' (after an argument unless an operation took it, a comma or `...`)."""
        scan = self.scan
        children: list[Node] = [name, scan.take("LPAR")]
        self.maybe_newlines(children)
        if scan.peek().type != "RPAR":
            arguments: list[Node] = [self.expression(lines=True)]
            self.maybe_newlines(arguments)
            while scan.peek().type == "COMMA":
                arguments.append(scan.take())
                self.maybe_newlines(arguments)
                if scan.peek().type == "RPAR":
                    break
                arguments.append(self.expression(lines=True))
                self.maybe_newlines(arguments)
            else:
                if scan.peek().type == "ELLIPSIS":
                    last = arguments[-1]
                    if isinstance(last, Tree) and last.data == "new_line_or_comment":
                        raise Decline  # no new line may come before `...`
                    arguments.append(scan.take())
                    self.maybe_newlines(arguments)
            children.append(_tree("arguments", arguments))
        children.append(scan.take("RPAR"))
        return _tree("function_call", children)

    def tuple(self) -> Tree:
        element = partial(self.expression, lines=True)
        return _tree("tuple", self.collection("LSQB", "RSQB", element, commas=True))

    def object(self) -> Tree:
        return _tree("object", self.collection("LBRACE", "RBRACE", self.object_elem))

    def collection(
        self, opening: str, closing: str, element: Callable[[], Node], *, commas: bool = False
    ) -> list[Node]:
        """The children of a list or an object: elements, commas and new lines between
        the brackets, flat as lark leaves them. `commas`: elements need one between them
        (a list's do; an object's may follow each other)."""
        scan = self.scan
        children: list[Node] = [scan.take(opening)]
        self.maybe_newlines(children)
        while scan.peek().type != closing:
            children.append(element())
            self.maybe_newlines(children)
            if scan.peek().type == "COMMA":
                children.append(scan.take())
                self.maybe_newlines(children)
            elif commas:
                break
        children.append(scan.take(closing))
        return children

    def object_elem(self) -> Tree:
        """A key (a name or a string: other key expressions are declined), `=` or `:`,
        a value."""
        scan = self.scan
        kind = scan.peek().type
        if kind == "NAME":
            key: Tree = self.identifier()
        elif kind == "DBLQUOTE":
            key = self.string()
        else:
            raise Decline
        key = _tree("object_elem_key", [_tree("expr_term", [key])])
        separator = scan.take("EQ", "COLON")
        return _tree("object_elem", [key, separator, self.expression(lines=True)])

    def maybe_newlines(self, children: list[Node]) -> None:
        if self.scan.peek().type == "NL_OR_COMMENT":
            children.append(self.newlines())

    # -- strings -----------------------------------------------------------------------
    def string(self) -> Tree:
        """DBLQUOTE string_part* DBLQUOTE; a part is STRING_CHARS or `${ expression }`."""
        scan = self.scan
        children: list[Node] = [scan.take("DBLQUOTE")]
        text = scan.text
        while True:
            pos = scan.pos
            char = text[pos]
            if char == '"':
                children.append(Token("DBLQUOTE", '"', scan.line, scan.column))
                scan.advance(pos + 1)
                return _tree("string", children)
            if text.startswith("${", pos):
                start = Token("INTERP_START", "${", scan.line, scan.column)
                scan.advance(pos + 2)
                inside = self.expression(lines=False)
                closing = scan.take("RBRACE")
                interpolation = _tree("interpolation", [start, inside, closing])
                children.append(_tree("string_part", [interpolation]))
                continue
            end = string_chars(text, pos)
            chars = Token("STRING_CHARS", text[pos:end], scan.line, scan.column)
            scan.advance(end)
            children.append(_tree("string_part", [chars]))
