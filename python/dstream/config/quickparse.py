"""The common shape of an HCL file parsed without lark, into python-hcl2's own tree.

Why: importing lark and building python-hcl2's parser cost ~110 ms, paid by the first
command after every edit of a dstream.hcl (the parse cache keeps trees by content),
twice the start-up budget of issue 22. A configuration is mostly blocks, attributes,
strings and references, which a few hundred lines parse in a millisecond or two.

What it reads: blocks and attributes, comments, numbers, true/false/null, quoted strings
with `${ }` interpolations, heredocs, names with `.attribute` and `[index]` traversals,
function calls, lists and objects over several lines, parentheses, conditionals and
the unary and binary operators. Anything else (`%{ }` directives, for expressions,
splats, a new line inside parentheses, and every syntax error) it declines:
`parse` returns None and lark parses the text as before, so every error message still
comes from there.

The tree must be lark's to the token: the same rules and terminals, positions, and new
lines where LALR puts them (one that ends an expression goes into its innermost open
binary operation). tests/config/test_quickparse.py compares the two on every
configuration in the repository and on generated ones. That holds for one grammar,
python-hcl2's hcl2.lark with GRAMMAR_CRC; config/syntax.py uses this parser only when
the installed grammar is that one.
"""

from __future__ import annotations

from functools import partial

from dstream.config.limits import MAX_TREE_DEPTH
from dstream.config.tree import Token, Tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from typing import Callable, Optional, Union

    Node = Union[Tree, Token]

# zlib.crc32 of the hcl2.lark this parser mirrors (python-hcl2 8.1.4).
GRAMMAR_CRC = 0x4496A315

# Words the grammar lexes as keywords: their trees depend on the parser's state.
KEYWORDS = frozenset({"if", "in", "for", "for_each", "else", "endif", "endfor"})
LITERALS = {"true": "TRUE", "false": "FALSE", "null": "NULL"}
# The binary operators by precedence, lowest first (hcl2.lark's ladder).
LEVELS = (
    frozenset({"DOUBLE_PIPE"}),
    frozenset({"DOUBLE_AMP"}),
    frozenset({"DOUBLE_EQ", "NEQ"}),
    frozenset({"LT", "GT", "LEQ", "GEQ"}),
    frozenset({"PLUS", "MINUS"}),
    frozenset({"ASTERISK", "SLASH", "PERCENT"}),
)
PUNCTUATION = {
    "{": "LBRACE", "}": "RBRACE", "[": "LSQB", "]": "RSQB", "(": "LPAR", ")": "RPAR",
    ",": "COMMA", "+": "PLUS", "-": "MINUS", "*": "ASTERISK", "?": "QMARK",
}  # fmt: skip
TWO = {"==": "DOUBLE_EQ", "!=": "NEQ", "<=": "LEQ", ">=": "GEQ", "&&": "DOUBLE_AMP",
       "||": "DOUBLE_PIPE"}  # fmt: skip
ONE = {"<": "LT", ">": "GT", "!": "NOT"}
NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
NAME_CHARS = NAME_START | frozenset("0123456789-")
DIGITS = frozenset("0123456789")
EOF = "$END"
HEREDOCS = {
    "HEREDOC_TEMPLATE": "heredoc_template",
    "HEREDOC_TEMPLATE_TRIM": "heredoc_template_trim",
}
_HEREDOC_PATTERNS: Optional[tuple[tuple[str, re.Pattern[str]], ...]] = None  # on first use
_SIGNED: Optional[tuple[tuple[str, re.Pattern[str]], ...]] = None  # on first use


class Decline(Exception):
    """Not a text this parser knows: lark parses it."""


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


class _Scanner:
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

    def signed_number(self) -> Optional[Token]:
        """The MINUS ahead and the digits after it as one literal, if lark lexes so."""
        token = self.peek()
        found = _signed_number(self.text, self.pos) if token.type == "MINUS" else None
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
        if char in NAME_START:
            end = pos + 1
            while text[end] in NAME_CHARS:
                end += 1
            word = text[pos:end]
            if word in KEYWORDS:
                raise Decline
            return end, LITERALS.get(word, "NAME")
        if char in DIGITS:
            return _number(text, pos)
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
        raise Decline  # -, ~, $, \, /* and anything unknown


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


def _signed_number(text: str, pos: int) -> Optional[tuple[int, str]]:
    """hcl2.lark's FLOAT_LITERAL or INT_LITERAL when one matches at the `-` at `pos`
    (end, type). Lark's lexer tries both before MINUS, and its INT_LITERAL takes a sign
    only before two digits or more: `-1.5` and `-42` are literals, `-4` is MINUS and 4,
    and after an operand `a -42` is an operand too (a syntax error)."""
    global _SIGNED
    if _SIGNED is None:
        import re

        mantissa = r"(?:(?:-[0-9])?[0-9]+|(?:-[0-9])+)"
        exponent = r"[eE][+-]?[0-9]+"
        _SIGNED = (
            (
                "FLOAT_LITERAL",
                re.compile(f"{mantissa}\\.[0-9]+(?:{exponent})?|{mantissa}{exponent}"),
            ),
            ("INT_LITERAL", re.compile(r"-[0-9][0-9]+")),
        )
    for kind, pattern in _SIGNED:
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


def _number(text: str, pos: int) -> tuple[int, str]:
    """INT_LITERAL or FLOAT_LITERAL: digits, then `.digits`, then an exponent."""
    end = pos
    while text[end] in DIGITS:
        end += 1
    kind = "INT_LITERAL"
    if text[end] == ".":
        if text[end + 1] not in DIGITS:
            raise Decline
        end += 1
        while text[end] in DIGITS:
            end += 1
        kind = "FLOAT_LITERAL"
    if text[end] in "eE":
        mark = end + 1
        if text[mark] in "+-":
            mark += 1
        if text[mark] not in DIGITS:
            raise Decline
        end = mark
        while text[end] in DIGITS:
            end += 1
        kind = "FLOAT_LITERAL"
    if text[end] in NAME_START or text[end] == ".":
        raise Decline  # `1abc`, `1.a`: lexed apart by lark, read by nobody
    return end, kind


class _Parser:
    def __init__(self, text: str) -> None:
        self.scan = _Scanner(text)

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
            if self.scan.peek().type == "MINUS" and _signed_number(self.scan.text, self.scan.pos):
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
            literal = self.scan.signed_number()
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
            end = _string_chars(text, pos)
            chars = Token("STRING_CHARS", text[pos:end], scan.line, scan.column)
            scan.advance(end)
            children.append(_tree("string_part", [chars]))


def _string_chars(text: str, pos: int) -> int:
    """The end of one STRING_CHARS run from `pos`: up to a quote, `${` or `%{`. Escaped
    interpolations and directives (`$${`, `%%{`, `%{`) and a new line in the string
    are declined."""
    end = pos
    while True:
        char = text[end]
        if char == '"':
            break
        if char == "\\":
            if text[end + 1] == "\n":
                raise Decline
            end += 2
            continue
        if char == "\n":
            raise Decline
        if char in "$%":
            ahead = text[end + 1 : end + 3]
            if ahead[:1] == "{" or ahead == char + "{":
                if char == "%" or ahead == "${":
                    raise Decline  # %{, %%{ and $${ are not read here
                break  # ${: an interpolation
        end += 1
    if end == pos:
        raise Decline
    return end
