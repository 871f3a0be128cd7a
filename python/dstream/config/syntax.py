"""HCL text -> a small tree of blocks and attributes that remembers positions.

python-hcl2's grammar parses; its serialised dict loses positions and turns expressions
into `${...}` strings, so dstream reads the raw Lark tree instead (the parser is built
with propagate_positions), copied into dstream.config.tree, and keeps each expression as
a subtree for the evaluator. lark is imported only when a text is really parsed. Where
HCL v2 differs from that grammar, dstream follows HCL v2: its names are Unicode
identifiers (the grammar's NAME is widened), and its quoted strings stay on one line and
hold only valid escapes (config/literals.py checks the tree).
"""

from __future__ import annotations

import errno
import functools
import marshal
import os
import stat
import sys

from dstream.cache import cache_root, keep, read_owned
from dstream.config.limits import (
    MAX_FILE_BYTES,
    MAX_TREE_DEPTH,
    TooDeep,
    check_nesting,
    line_column,
)
from dstream.config.literals import BadString, check_strings, label_text, text_of
from dstream.config.model import Location
from dstream.config.templates import Rewritten, SourceMap, rewrite_templates
from dstream.config.tree import Token, Tree, freeze, from_lark, thaw
from dstream.errors import ConfigError
from dstream.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from lark import Lark
    from lark import Token as LarkToken
    from lark import Tree as LarkTree
    from lark.exceptions import UnexpectedInput

    from dstream.config.gaps import Copy
    from dstream.config.tree import Node

# Part of the cache key: bump it when what a cached tree holds, or what a text must pass
# before it is cached, changes (2: nesting limits, a tree cached before them is not trusted).
# 3: marshal of tree.freeze (2 was a pickle); 4: quoted strings checked (config/literals.py);
# 5: every `/* */` comment in code read as blanks (config/gaps.py); 6: new lines in
# expressions and between an object's items checked (config/layout.py); 7: a comma
# starting a line in an object refused (config/layout.py); 8: each attribute and block
# ends its line (config/layout.py check_lines)
TREE_FORMAT = "dstream-tree-8"
BOM = "\ufeff"


@record
class Attribute:
    name: str
    expr: Tree
    location: Location  # of the name
    value_location: Location


@record
class Block:
    type: str
    labels: list[str]
    body: Body
    location: Location
    label_locations: list[Location] = field(default_factory=list)


@record
class Body:
    attributes: dict[str, Attribute] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def blocks_of(self, kind: str) -> list[Block]:
        return [block for block in self.blocks if block.type == kind]


@record
class SourceFile:
    path: str
    body: Body
    source_map: SourceMap
    rewritten: Rewritten

    def location(self, node: Node) -> Location:
        return locate(node, self.source_map)


def locate(node: Node, source_map: SourceMap) -> Location:
    if isinstance(node, Token):
        return source_map.location(node.line or 0, node.column or 0)
    if node.line is not None:
        return source_map.location(node.line, node.column or 0)
    for child in node.children:
        if isinstance(child, (Tree, Token)):
            return locate(child, source_map)
    return Location(source_map.file)


# Terminal names -> what a person would type, for "expected ..." in parse errors.
_TERMINALS = {
    "RBRACE": "}",
    "LBRACE": "{",
    "RSQB": "]",
    "LSQB": "[",
    "RPAR": ")",
    "LPAR": "(",
    "EQ": "=",
    "COLON": ":",
    "COMMA": ",",
    "DBLQUOTE": '"',
    "NAME": "a name",
    "$END": "end of file",
    "NL_OR_COMMENT": "a new line",
    "INT_LITERAL": "a number",
    "FLOAT_LITERAL": "a number",
    "STRING_CHARS": "text",
    "INTERP_START": "${",
    "QMARK": "?",
    "DOT": ".",
    "FOR_OBJECT_ARROW": "=>",
}


def _describe_token(token: LarkToken) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "NL_OR_COMMENT":
        return "end of line"
    raw = str(token.value)
    if token.type == "STRING_CHARS":
        # Outside quotes the lexer takes the rest of the line as text: show its first word.
        if raw.startswith("\n") or not raw.strip():
            return "end of line"
        raw = raw.split()[0]
    text = raw.strip() or raw
    if len(text) > 20:
        text = text[:20] + "..."
    return f"`{text}`"


def _expected(names: set[str]) -> str:
    if {"FLOAT_LITERAL", "DBLQUOTE", "NAME"} <= names:
        return 'a value (a number, a "string", a [list], an { object }, or an expression)'
    shown = sorted({_TERMINALS[name] for name in names if name in _TERMINALS})
    if not shown:
        return ""
    return " or ".join(f"`{s}`" if len(s) <= 2 else s for s in shown)


def _mistake(token: LarkToken, expected: set[str], string_open: bool) -> Optional[str]:
    """A hint naming the likely mistake where the unexpected token and what was
    expected in its place (and, at the end of the file, whether a string is open)
    tell it; None leaves the general hint."""
    kind = token.type
    opened = str(token.value).strip()
    if opened.startswith("<<"):  # a heredoc the lexer could not close
        marker = opened.lstrip("<-").split()[0] if opened.lstrip("<-") else "EOT"
        return (
            f"a heredoc is not closed: no later line holds only `{marker}` (spaces may come "
            "before the closing marker, nothing after it)"
        )
    if kind == "$END" and string_open:
        return 'a string is not closed: add the closing `"`'
    if kind == "$END" and "RBRACE" in expected:
        return "a block is not closed: add the missing `}`"
    if kind == "RBRACE" and expected == {"$END"}:
        return "this `}` closes nothing: remove it or open the block it belongs to"
    if kind == "COMMA" and "NL_OR_COMMENT" in expected:
        return (
            "attributes are separated by new lines, not commas (commas separate the "
            "items of a list or an object): put each attribute on a line of its own"
        )
    if {"RSQB", "COMMA"} <= expected:
        return "a list's items are separated by commas: add the missing `,` (or close it with `]`)"
    if {"RPAR", "COMMA"} <= expected:
        return (
            "a call's arguments are separated by commas: add the missing `,` (or close it with `)`)"
        )
    if "RPAR" in expected:
        return "a parenthesis is not closed: add the missing `)`"
    if kind == "STRING_CHARS" and "{{" in str(token.value):
        return 'a {{ template }} must be written as {{ env "NAME" }}'
    return None


# What closes each bracket (`${` is an interpolation's) an end of file may leave open.
_CLOSERS = {"LBRACE": "}", "LSQB": "]", "LPAR": ")", "INTERP_START": "}"}


def open_at_end(exc: UnexpectedInput) -> Optional[LarkToken]:
    """At an unexpected end of file, the innermost bracket still open (or a string's
    `"`), from lark's stack of what it read and did not reduce yet; else None."""
    token = getattr(exc, "token", None)
    parser = getattr(exc, "interactive_parser", None)
    if token is None or token.type != "$END" or parser is None:
        return None
    closed = 0  # closers on the stack whose openers are too, further down
    for item in reversed(parser.parser_state.value_stack):
        kind = getattr(item, "type", None)
        if kind in ("RBRACE", "RSQB", "RPAR"):
            closed += 1
        elif kind in _CLOSERS and closed:
            closed -= 1
        elif kind in _CLOSERS or kind == "DBLQUOTE":
            return item  # type: ignore[no-any-return]
    return None


def parse_error(exc: UnexpectedInput, source_map: SourceMap) -> ConfigError:
    opener = open_at_end(exc)
    if opener is not None and opener.type in _CLOSERS:  # said where it is, as HCL does
        shown = "${" if opener.type == "INTERP_START" else str(opener.value).strip()
        return ConfigError(
            f"syntax error: this `{shown}` is not closed",
            location=source_map.location(opener.line or 1, opener.column or 1),
            hint=f"add the missing `{_CLOSERS[opener.type]}` (the end of the file came first)",
        )
    line, column = getattr(exc, "line", 0) or 0, getattr(exc, "column", 0) or 0
    where = source_map.location(line, column) if line > 0 else Location(source_map.file)
    reason, hint = parse_problem(exc)
    return ConfigError(f"syntax error: {reason}", location=where, hint=hint)


def parse_problem(exc: UnexpectedInput) -> tuple[str, str]:
    """What lark's exception says went wrong, and the hint for it."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    hint = 'check for a missing `}`, `]`, `"` or `=` just before this point'
    if isinstance(exc, UnexpectedToken):
        token: LarkToken = exc.token
        expected = _expected(set(exc.expected))
        if token.type == "$END":
            reason = "unexpected end of file"
        else:
            reason = f"unexpected {_describe_token(token)}"
        if expected:
            reason += f"; expected {expected}"
        opener = open_at_end(exc)
        string_open = opener is not None and opener.type == "DBLQUOTE"
        hint = _mistake(token, set(exc.expected), string_open) or hint
    elif isinstance(exc, UnexpectedCharacters):
        reason = f"unexpected character {exc.char!r}"
    elif isinstance(exc, UnexpectedEOF):
        reason = "unexpected end of file"
    else:
        reason = "syntax error"
    return reason, hint


@functools.cache
def _grammar_path() -> Optional[str]:
    """The installed python-hcl2's hcl2.lark, found without importing hcl2; looked up
    once per process (every file and every heredoc interpolation is a parse). The
    package's folder is looked for on sys.path first, as the import would find it: the
    import machinery's own lookup (importlib.util) is only for an install it alone can
    find, such as an editable one."""
    for folder in sys.path:
        package = os.path.join(folder or ".", "hcl2")
        if os.path.isdir(package):
            path = os.path.join(package, "hcl2.lark")
            if os.path.exists(path):
                return path
            break  # an hcl2 without its grammar file here: let the import machinery look
    import importlib.util

    spec = importlib.util.find_spec("hcl2")
    if spec is None or spec.origin is None:
        return None
    return os.path.join(os.path.dirname(spec.origin), "hcl2.lark")


@functools.cache
def _grammar_stamp() -> str:
    """Identifies the installed grammar in the parse cache's key (its size and time)."""
    path = _grammar_path()
    if path is None:
        return "none"
    stat = os.stat(path)
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _cache_folder() -> Optional[str]:
    """Where parsed trees are kept; None when DSTREAM_PARSE_CACHE=0 turns the cache off
    (a tree holds the file's literal text: docs/security.md, "The parse cache")."""
    if os.environ.get("DSTREAM_PARSE_CACHE") == "0":
        return None
    return os.path.join(cache_root(), "hcl")


@functools.cache
def _unicode_parser() -> Lark:
    """python-hcl2's parser with HCL v2's identifiers (Unicode ID_Start or `_`, then
    ID_Continue or `-`) for the grammar's ASCII NAME. Its tables are built in each
    process that needs them (~1.5 s), never loaded from a cache: lark keeps them as a
    pickle, and loading one runs whatever it holds. Only a text with a name outside
    ASCII that the quick parser leaves to lark pays it (lark_parse)."""
    import re

    from hcl2.postlexer import PostLexer  # first: a missing python-hcl2 is named
    from lark import Lark

    from dstream.config.quicklex import NAME_PATTERN

    with open(_grammar_path() or "", encoding="utf-8") as handle:
        grammar = handle.read()
    name = f"NAME : /{NAME_PATTERN}/"
    grammar = re.sub(r"^NAME\s*:.*$", lambda _: name, grammar, count=1, flags=re.M)
    return Lark(
        grammar,
        parser="lalr",
        regex=True,  # the `regex` module: \p{ID_Start} in NAME
        propagate_positions=True,
        postlex=PostLexer(),
    )


def lark_parse(source: str) -> LarkTree[LarkToken]:
    """lark's tree of `source`, with the new line python-hcl2's own parses_to_tree
    appends (the grammar cannot end a body at the end of the text). python-hcl2's own
    parser (whose tables it keeps built) reads every text whose names are ASCII, as
    most are even when strings or comments are not; only where it stops at a character
    outside ASCII is the text read again with Unicode names."""
    from hcl2.parser import parser
    from lark.exceptions import UnexpectedInput

    text = source + "\n"
    try:
        return parser().parse(text)
    except UnexpectedInput as exc:
        at = _error_offset(exc)
        if at is None or at >= len(text) or text[at].isascii():
            raise
    return _unicode_parser().parse(text)


def _error_offset(exc: UnexpectedInput) -> Optional[int]:
    token = getattr(exc, "token", None)
    offset = getattr(token, "start_pos", None) if token is not None else exc.pos_in_stream
    return offset if isinstance(offset, int) else None


@functools.cache
def _quick_parse_applies() -> bool:
    """Whether the installed grammar is the one config/quickparse.py mirrors."""
    import zlib

    from dstream.config.quickparse import GRAMMAR_CRC

    path = _grammar_path()
    try:
        with open(path or "", "rb") as handle:
            return zlib.crc32(handle.read()) == GRAMMAR_CRC
    except OSError:
        return False


def parses_to_tree(source: str, *, cache: bool = True, own_lines: bool = True) -> Tree:
    """python-hcl2's parse tree of `source`, kept on disk by content: building hcl2's
    parser costs about 70 ms on every `dstream` command (and importing lark 40 ms more),
    loading a cached tree well under a millisecond. A miss is parsed by
    config/quickparse.py when it knows the text (a millisecond or two), by lark
    otherwise. The `{{ env }}` pre-pass leaves no value it reads in `source`, but the
    file's own text is kept, a password written in it too (docs/security.md, "The parse
    cache": owner-only, DSTREAM_PARSE_CACHE=0); `cache=False` for a text that must not
    be kept. Any cache trouble just means parsing again, and so does a tree another user
    could have written (dstream.cache.owned). Raises lark's UnexpectedInput on a syntax
    error, TooDeep on nesting beyond the limits (checked before the parse), BadString
    for a quoted string HCL v2 refuses and BadLayout for a new line it refuses or wants
    (both checked after it): only a miss pays for the checks, and a text that fails is
    never cached. `own_lines=False` (`dstream fmt`, which puts them on lines of their
    own) lets attributes and blocks share a line (config/layout.py check_lines): such
    a tree is not cached either."""
    import zlib

    stamp = f"{TREE_FORMAT}\0{_grammar_stamp()}\0{source}".encode()
    # The name only spreads the files out; the stamp stored with the tree decides a hit,
    # so a crc32 collision costs a parse, never a wrong tree (hashlib would load
    # OpenSSL: 3-4 ms of every command).
    folder = _cache_folder() if cache else None
    path = os.path.join(folder, f"{zlib.crc32(stamp):08x}-{len(stamp)}.tree") if folder else ""
    # A tree decides which programs run: one another user could have written (the file
    # or its folder) is parsed again, never trusted (read_owned).
    try:
        kept = read_owned(path) if folder else None
        if kept is not None:
            stored, plain = marshal.loads(kept)
            if stored == stamp:
                return thaw(plain)
    except Exception:  # written in another format (not BaseException)
        pass
    from dstream.config.gaps import copy_for_grammar

    copy = copy_for_grammar(source)
    tree = _parse(copy.text, copy) if copy else _parse(source, None)
    check_strings(tree)
    from dstream.config.layout import BadLayout, check_layout, check_lines  # no cached tree

    check_layout(tree)
    try:
        check_lines(tree)
    except BadLayout:
        if own_lines:
            raise
        return tree  # fmt's reading: never cached, as any other parse refuses it
    if not folder:
        return tree
    try:
        data = marshal.dumps((stamp, freeze(tree)))
    except (RecursionError, ValueError):  # ValueError: marshal's refusals
        return tree  # not cached: the next command parses again
    keep(path, data, private=True)
    return tree


def _parse(text: str, copy: Optional[Copy]) -> Tree:
    """The tree of `text`; when `text` is the grammar's copy of the written text
    (config/gaps.py), every position, in the tree and in a refusal, is placed on the
    written text and the tree is restored to it."""
    from dstream.config import quickparse

    try:
        check_nesting(text)
        tree = quickparse.parse(text) if _quick_parse_applies() else None
        if tree is None:  # a text the quick parser declines: lark's (a syntax error too)
            tree = from_lark(lark_parse(text), MAX_TREE_DEPTH)
    except TooDeep as exc:
        if copy and exc.offset is None:  # an offset is the same in both texts
            exc.line, exc.column = copy.place(exc.line, exc.column)
        raise
    except Exception as exc:
        from lark.exceptions import UnexpectedInput  # only a parse raises it: lark is in

        if copy and isinstance(exc, UnexpectedInput) and exc.line > 0:
            exc.line, exc.column = copy.place(exc.line, exc.column)
            opener = open_at_end(exc)  # where parse_error says it is
            if opener is not None and opener.line:
                opener.line, opener.column = copy.place(opener.line, opener.column or 1)
        raise
    if copy:
        copy.restore(tree)
    return tree


def parse_text(text: str, path: str, *, cache: bool = True, own_lines: bool = True) -> SourceFile:
    """Parse one file (after the `{{ env }}` pre-pass). Raises ConfigError. `cache`:
    False for a text that may hold a value given from outside the configuration (a var
    file, a --var), which the parse cache must never hold; `own_lines` as for
    parses_to_tree."""
    tree, rewritten = parse_tree(text, path, cache=cache, own_lines=own_lines)
    body_tree = next(c for c in tree.children if isinstance(c, Tree) and c.data == "body")
    body = _body(body_tree, rewritten.source_map)
    return SourceFile(path, body, rewritten.source_map, rewritten)


def parse_tree(
    text: str, path: str, *, cache: bool = True, own_lines: bool = True
) -> tuple[Tree, Rewritten]:
    """One file's parse tree (of the text after the `{{ env }}` pre-pass, which the
    source map maps back to `text`); `cache` and `own_lines` as for parse_text. Raises
    ConfigError."""
    if text.startswith(BOM):  # what some Windows editors write first; it is no text
        text = text[1:]
    if len(text) > MAX_FILE_BYTES:
        line, column = line_column(text, MAX_FILE_BYTES)
        raise ConfigError(
            f"the file is larger than {MAX_FILE_BYTES // 1024**2} MiB",
            location=Location(path, line, column),
            hint="a configuration this large is no configuration: read data with file() "
            "from a smaller file, or split it",
        )
    rewritten = rewrite_templates(text, path)
    source_map = rewritten.source_map
    source = rewritten.text if rewritten.text.endswith("\n") else rewritten.text + "\n"
    try:
        tree = parses_to_tree(source, cache=cache, own_lines=own_lines)
    except TooDeep as exc:
        line, column = exc.position(source)
        raise ConfigError(
            f"this is {exc.reason}",
            location=source_map.location(line, column),
            hint="flatten it: name inner parts in locals { }",
        ) from None
    except BadString as exc:  # BadLayout too (config/layout.py)
        where = source_map.location(exc.line, exc.column)
        raise ConfigError(exc.reason, location=where, hint=exc.hint) from None
    except Exception as exc:
        # A lark exception can only come from a parse, which imported lark already.
        from lark.exceptions import UnexpectedInput

        if isinstance(exc, UnexpectedInput):
            raise parse_error(exc, source_map) from None
        raise
    return tree, rewritten


def _name_of(node: Node) -> str:
    """The text of an identifier, keyword or literal_value node."""
    if isinstance(node, Token):
        return str(node.value)
    return _name_of(node.children[0])


def _label(node: Tree, source_map: SourceMap) -> str:
    """A block label: a name, or a quoted string's literal text."""
    if node.data == "string":
        return label_text(node, source_map)
    return _name_of(node)


def trees(node: Tree) -> list[Tree]:
    """The subtrees of `node` that carry meaning (no punctuation, newlines or comments)."""
    return [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]


def unwrap(node: Node) -> Node:
    """The expression inside `expr_term` wrappers (parentheses too)."""
    while isinstance(node, Tree) and node.data == "expr_term" and len(trees(node)) == 1:
        node = trees(node)[0]
    return node


def bare_key(node: Tree) -> Optional[str]:
    """The key of an object element (`object_elem_key`) written as a name (`host`, a
    keyword such as `in`, `true`): HCL takes its text. None for a key written as an
    expression (a quoted string, `(name)`), which is evaluated."""
    inner = trees(node)[0] if trees(node) else node.children[0]
    if isinstance(inner, Token):  # a keyword used as a key: `in = 1`
        return str(inner.value)
    if inner.data == "keyword":
        return str(inner.children[0])
    if inner.data == "expr_term":
        term = trees(inner)
        bare = len(inner.children) == 1  # `(name)` is an expression, `name` a key
        if bare and len(term) == 1 and term[0].data in ("identifier", "literal_value"):
            return str(term[0].children[0])
    return None


def literal_key(node: Tree) -> Optional[str]:
    """The key of an object element as written: a name, or a quoted string without
    `${ }` or `%{ }` (its escapes decoded); None for a key only evaluation gives."""
    key = bare_key(node)
    if key is not None or not trees(node):
        return key
    inner = trees(node)[0]
    string = inner.children[0] if inner.data == "expr_term" and len(inner.children) == 1 else None
    if not (isinstance(string, Tree) and string.data == "string"):
        return None
    parts = [
        c.children[0] for c in string.children if isinstance(c, Tree) and c.data == "string_part"
    ]
    if not all(isinstance(part, Token) for part in parts):
        return None
    return "".join(text_of(part) for part in parts if isinstance(part, Token))


def attribute_names(tree: Tree) -> list[str]:
    """The names of the attributes a file's parse tree sets at its top level (a name set
    twice too, which _body refuses)."""
    body = next(c for c in tree.children if isinstance(c, Tree) and c.data == "body")
    return [_name_of(c.children[0]) for c in trees(body) if c.data == "attribute"]


def _body(tree: Tree, source_map: SourceMap) -> Body:
    body = Body()
    for child in trees(tree):
        if child.data == "attribute":
            name_node = child.children[0]
            expr = child.children[-1]
            name = _name_of(name_node)
            attribute = Attribute(
                name,
                expr,
                locate(name_node, source_map),
                locate(expr, source_map),
            )
            if name in body.attributes:
                first = body.attributes[name].location
                raise ConfigError(
                    f"attribute {name!r} is set twice (first at {first})",
                    location=attribute.location,
                    hint="keep one of the two assignments",
                )
            body.attributes[name] = attribute
        elif child.data == "block":
            parts = [
                c
                for c in child.children
                if isinstance(c, Tree) and c.data not in ("new_line_or_comment", "body")
            ]
            inner = next(c for c in child.children if isinstance(c, Tree) and c.data == "body")
            body.blocks.append(
                Block(
                    type=_name_of(parts[0]),
                    labels=[_label(p, source_map) for p in parts[1:]],
                    body=_body(inner, source_map),
                    location=locate(parts[0], source_map),
                    label_locations=[locate(p, source_map) for p in parts[1:]],
                )
            )
    return body


class UnreadableSource(ConfigError):
    """A path whose text could not be read at all (permissions, a loop, not a regular
    file), as against a text that is wrong: `fmt` counts them apart."""


def unreadable(path: str, exc: OSError) -> UnreadableSource:
    """A configuration file or directory that cannot be read (the loader, `fmt`)."""
    loop = exc.errno == errno.ELOOP
    return UnreadableSource(
        f"{path} is a symlink loop" if loop else f"cannot read {path}: {exc.strerror or exc}",
        location=Location(path),
        hint="point the link at a file" if loop else "check the path and its permissions",
    )


def path_kind(path: str) -> str:
    """What a configuration path names: "dir", "file" or "missing". A symlink loop or a
    link that leads nowhere is a "file" (read_source says why); a folder on the way that
    may not be searched is UnreadableSource."""
    try:
        return "dir" if stat.S_ISDIR(os.stat(path).st_mode) else "file"
    except (FileNotFoundError, NotADirectoryError):
        return "file" if os.path.lexists(path) else "missing"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "file"
        raise unreadable(path, exc) from None


def read_source(path: str) -> str:
    """A configuration or var file's text: a regular file only (a FIFO or a device may
    never end: as file(), it is refused, not waited on), at most MAX_FILE_BYTES (a huge
    file is refused, not read), UTF-8, a leading BOM dropped. Raises ConfigError with
    file:line:col (an undecodable byte's own line and column)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise UnreadableSource(
                    f"{path} is not a regular file (a FIFO, a device or a directory)",
                    location=Location(path),
                    hint="give the path of an ordinary file",
                )
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise unreadable(path, exc) from None
    return decode_source(raw, path)


def decode_source(raw: bytes, path: str) -> str:
    """The text of a configuration read as `raw` (at most MAX_FILE_BYTES + 1 bytes of
    it), as read_source takes it; ConfigError with file:line:col if it is not one."""
    if len(raw) > MAX_FILE_BYTES:
        line, column = line_column(raw[:MAX_FILE_BYTES].decode("utf-8", "replace"), MAX_FILE_BYTES)
        raise ConfigError(
            f"{path} is larger than {MAX_FILE_BYTES // 1024**2} MiB",
            location=Location(path, line, column),
            hint="is it the right file? a configuration is kilobytes; split it or read "
            "large data with file() from a smaller file",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line_start = raw.rfind(b"\n", 0, start) + 1
        column = len(raw[line_start:start].decode("utf-8", "replace")) + 1
        raise ConfigError(
            f"the file is not UTF-8: byte 0x{raw[start]:02x} at byte offset {start} "
            "cannot be decoded",
            location=Location(path, raw.count(b"\n", 0, start) + 1, column),
            hint="save the file as UTF-8",
        ) from None
