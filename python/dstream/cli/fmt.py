"""`dstream fmt [PATH...]`: rewrite .hcl files in the canonical layout, like
`terraform fmt`: two spaces per nesting level, one space around `=` and before `{` (a
one-line block's too), the tokens inside expressions spaced as terraform fmt spaces them
(cli/fmt_spacing.py), the `=` of consecutive one-line attributes aligned, no trailing
spaces, blank lines kept as they are (empty), one newline at the end (CRLF in a file
whose lines end in CRLF), the trailing `#` / `//` comments of consecutive lines aligned.
Each attribute and block starts a line, and so does a block's `}`, but for a one-line
block holding one attribute (`output { path = "x" }`): that repairs what HCL v2, and
every other dstream command, refuses (`a = 1  b = 2`, `state { a = 1  b = 2 }`:
config/layout.py check_lines), so fmt reads a text without that check. Comments and
heredocs are kept as written: a block comment's lines and a heredoc's body pass through
byte for byte (`_Line.kept`).

`--check` (also `-check`) changes nothing and exits 1 when a file is not formatted (for
CI); `--diff` (`-diff`) prints what would change (with `--json`, under `diffs`, one per
file). Every file is parsed, laid out or not:
one that does not parse is reported with the parser's diagnostic (file:line:col) and
left alone, the others are still formatted, and the exit is 2. A rewrite whose parse
tree differs from the original's is refused and that file left alone (a formatter bug
must never change a configuration); the others are still formatted, and the exit is 1.
A file or folder that cannot be read is an error (exit 2), never passed over. A rewrite
goes through a symlink, keeps the file's mode, owner and group, and is atomic; a file
that is read-only or may not be written is left alone (exit 1): cli/fmt_files.py."""

from __future__ import annotations

import argparse
import difflib

import regex

from dstream.cli.flags import terraform_spelling
from dstream.cli.fmt_files import find_files, write
from dstream.cli.fmt_spacing import CLOSERS, HEREDOC_MARKER, OPENERS, respace, string_step
from dstream.cli.view import View
from dstream.config.diagnostics import Diagnostics
from dstream.config.quicklex import NAME_PATTERN
from dstream.config.syntax import UnreadableSource
from dstream.config.tree import Token, Tree
from dstream.errors import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    DstreamError,
    UsageError,
)
from dstream.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Union

    from dstream.config.templates import SourceMap

INDENT = "  "
STDIN = "<stdin>"  # the name `dstream fmt -` gives its text in errors and diffs
# `regex`, not `re`: HCL's names are Unicode identifiers (NAME_PATTERN).
_LABEL = rf'"(?:[^"\\]|\\.)*"|{NAME_PATTERN}'
# An attribute, or an object's item on a line of its own (whose key may be quoted), with
# any `/* */` comments between its name and its `=` (HCL skips them).
_COMMENTS = r"(?:\s*/\*(?:[^*]|\*(?!/))*\*/)*"
_ATTRIBUTE = regex.compile(
    rf'^((?:{NAME_PATTERN}|"(?:[^"\\]|\\.)*"){_COMMENTS})\s*=(?![=>])\s*(.*)$'
)
_COMMENT = regex.compile(r"/\*(?:[^*]|\*(?!/))*\*/")
_BLOCK_OPEN = regex.compile(rf"^({NAME_PATTERN}(?:\s+(?:{_LABEL}))*)\s*\{{(.*)$")
# Tokens whose text is their meaning; any other's is its type (punctuation, operators,
# keywords), with the blanks and new lines lark may put in it (`  =`, `\n  +`).
_CONTENT = frozenset(
    {"NAME", "STRING_CHARS", "ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE", "INT_LITERAL",
     "FLOAT_LITERAL", "HEREDOC_TEMPLATE", "HEREDOC_TEMPLATE_TRIM", "TEMPLATE_STRING"}
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help=".hcl files or directories (default: .); - formats stdin to stdout",
    )
    check, diff, recursive = map(terraform_spelling, ("--check", "--diff", "--recursive"))
    parser.add_argument(*check, action="store_true", help="change nothing; exit 1 if unformatted")
    parser.add_argument(*diff, action="store_true", help="print what would change")
    parser.add_argument(*recursive, action="store_true", help="also format subdirectories")


@record
class _Scan:
    """What a line does to the nesting, outside strings and comments."""

    depth_change: int = 0  # brackets opened less brackets closed
    in_comment: bool = False  # a /* comment continues on the next line
    comment: int = -1  # where a `#` or `//` comment to the line's end starts
    heredoc: str = ""  # a heredoc starts after this line, ending at this marker
    # A quoted string whose `${ }` or `%{ }` goes on on the next line: what is open at the
    # line's end, innermost last (`"` a string, `{` an interpolation or a brace in one).
    inside: tuple[str, ...] = ()


def _scan(line: str, in_comment: bool, inside: tuple[str, ...] = ()) -> _Scan:
    scan = _Scan(in_comment=in_comment)
    i, n = 0, len(line)
    open_ = list(inside)
    while i < n:
        ch = line[i]
        if open_:
            i = string_step(line, i, open_)
            continue
        if scan.in_comment:
            end = line.find("*/", i)
            if end < 0:
                return scan
            scan.in_comment, i = False, end + 2
            continue
        if ch == "#" or line.startswith("//", i):
            scan.comment = i
            break
        if line.startswith("/*", i):
            scan.in_comment, i = True, i + 2
            continue
        if ch == '"':
            open_.append('"')
            i += 1
            continue
        heredoc = HEREDOC_MARKER.match(line, i) if ch == "<" else None
        if heredoc:  # only here, in code: `# query = <<EOF` opens no heredoc
            scan.heredoc = heredoc.group(1)
            break
        if ch in OPENERS:
            scan.depth_change += 1
        elif ch in CLOSERS:
            scan.depth_change -= 1
        i += 1
    scan.inside = tuple(open_) if "{" in open_ else ()  # a string's text ends with its line
    return scan


def _normalise(text: str) -> str:
    """One space around an attribute's `=` and before a block's `{`; a one-line block's
    attribute spaced as on a line of its own."""
    attribute = _ATTRIBUTE.match(text)
    if attribute:
        return f"{_spaced(attribute.group(1))} = {attribute.group(2)}".rstrip()
    block = _BLOCK_OPEN.match(text)
    if block:
        rest = block.group(2).strip()
        # A trailing comment is the author's text: its braces close no block.
        at = _scan(rest, False).comment
        comment = f" {rest[at:]}" if at >= 0 else ""
        rest = rest[:at].rstrip() if at >= 0 else rest
        inner = rest[:-1].strip()
        if rest.endswith("}") and _ATTRIBUTE.match(inner):  # `output {path="x"}`
            rest = f"{_normalise(inner)} }}"
        header = " ".join(regex.findall(_LABEL, block.group(1)))  # not inside a label
        if rest == "}":  # `locals { }`: as terraform fmt writes an empty one-line block
            return f"{header} {{}}{comment}"
        return f"{header} {{" + (f" {rest}" if rest else "") + comment
    return text


def _spaced(name: str) -> str:
    """An attribute's name and the comments after it one space apart, as terraform fmt
    spaces them (`c/*x*/` is `c /*x*/`)."""
    comments = _COMMENT.findall(name)
    if not comments:
        return name
    return " ".join([name[: name.index("/*")].rstrip(), *comments])


@record
class _Line:
    """A line of the output. A `kept` one is the author's, as written: a block comment's,
    a heredoc's body and end marker, a line an interpolation goes on on. No layout rule
    (alignment, blank lines) touches it: `terraform fmt` keeps them too."""

    text: str
    kept: bool = False
    # A heredoc's body or end: part of the attribute line that opened it, which is
    # aligned with the attributes around it as any one-line attribute is.
    heredoc: bool = False


def format_text(source: str) -> str:
    """`source` laid out. Its line ends stay what they are: a file whose first line ends
    in CRLF is written with CRLF throughout, as `terraform fmt` keeps them (a Windows
    checkout, git's autocrlf, must pass `fmt --check`)."""
    crlf = source.find("\n") > 0 and source[source.find("\n") - 1] == "\r"
    if not crlf:
        return _layout(source)
    return _layout(source.replace("\r\n", "\n")).replace("\n", "\r\n")


def _layout(source: str) -> str:
    lines: list[_Line] = []
    source = _break_items(source)
    indents: list[int] = []  # the lines still open: how many brackets each opened
    in_comment, heredoc = False, ""
    inside: tuple[str, ...] = ()
    for raw in _split_lines(source):
        if heredoc:  # a heredoc's body is data: kept byte for byte
            lines.append(_Line(raw, kept=True, heredoc=True))
            if raw.strip() == heredoc:
                heredoc = ""
            continue
        text = raw.strip()
        if in_comment:  # inside /* ... */: keep the author's layout
            # What follows its end counts (`*/}}` closes a Go template comment's `{{`).
            scan = _scan(raw, True)
            lines.append(_Line(raw if scan.in_comment else raw.rstrip(), kept=True))
            _nest(indents, scan.depth_change)
            in_comment, heredoc, inside = scan.in_comment, scan.heredoc, scan.inside
            continue
        if inside:  # goes on inside a string's `${ }`: kept as written, like a comment
            lines.append(_Line(raw.rstrip(), kept=True))
            scan = _scan(raw, False, inside)
            _nest(indents, scan.depth_change)
        else:
            scan = _scan(text, False)
            level = _nest(indents, scan.depth_change)
            lines.append(_Line(INDENT * level + _normalise(respace(text)) if text else ""))
        in_comment, heredoc, inside = scan.in_comment, scan.heredoc, scan.inside
    return _finish(_align_comments(_align(lines)))


def _nest(indents: list[int], change: int) -> int:
    """The indentation level of a line whose brackets change the nesting by `change`,
    with `indents` brought past it. As `terraform fmt` (hclwrite's formatIndent): a line
    opens one level at most, however many brackets it opens (`type = list(object({`),
    and is indented at the level it leaves open if it closes more than it opens (`}))`);
    one that opens as many as it closes (`}, {`) stays at the level it is in."""
    if change > 0:
        indents.append(change)
        return len(indents) - 1
    closed = -change
    while closed > 0 and indents:
        if closed >= indents[-1]:
            closed -= indents.pop()
        else:
            indents[-1] -= closed
            closed = 0
    return len(indents)


def _split_lines(text: str) -> list[str]:
    """The lines of `text`, split at its new lines only (not at the other characters
    str.splitlines takes for line ends: they may be a heredoc's or a comment's data)."""
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def _break_items(source: str) -> str:
    """`source` with a line break before each attribute or block that does not start a
    line, and before each block's `}` that does not; a one-line block holding one
    attribute stays as it is. Where they are comes from the parse tree (a text that does
    not parse is left as it is: fmt reports it). Never cached: it is fmt's text, maybe
    stdin's, not a file a run reads."""
    from dstream.config.syntax import parse_tree

    try:
        tree, rewritten = parse_tree(source, "", cache=False, own_lines=False)
    except ConfigError:
        return source
    tokens = _tokens(tree)
    index = {id(token): k for k, token in enumerate(tokens)}
    breaks: list[Token] = []

    def starts_line(token: Token) -> bool:
        """Whether only blanks or `/* */` comments come before it on its line."""
        k = index[id(token)] - 1
        while k >= 0 and str(tokens[k]).startswith("/*"):
            k -= 1
        return k < 0 or str(tokens[k]).rstrip(" \t").endswith("\n")

    for node in tree.iter_subtrees_topdown():
        if node.data not in ("block", "start"):
            continue
        body = next(c for c in node.children if isinstance(c, Tree) and c.data == "body")
        items = [
            c for c in body.children if isinstance(c, Tree) and c.data != "new_line_or_comment"
        ]
        ends = [c for c in node.children if isinstance(c, Token) and c.type in ("LBRACE", "RBRACE")]
        if (
            ends
            and ends[0].line == ends[-1].line
            and [i.data for i in items] in ([], ["attribute"])
        ):
            continue  # `output { path = "x" }`, `locals {}`
        breaks += [first for first in map(_first_token, items) if not starts_line(first)]
        breaks += [end for end in ends[1:] if not starts_line(end)]
    offsets = sorted({_offset(source, rewritten.source_map, token) for token in breaks})
    for offset in reversed(offsets):
        source = source[:offset] + "\n" + source[offset:]
    return source


def _tokens(tree: Tree) -> list[Token]:
    """The tree's tokens in the order of the text."""
    found: list[Token] = []
    stack: list[Union[Tree, Token]] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Token):
            found.append(node)
        else:
            stack.extend(c for c in reversed(node.children) if isinstance(c, (Tree, Token)))
    return found


def _first_token(tree: Tree) -> Token:
    return _tokens(tree)[0]


def _offset(source: str, source_map: SourceMap, token: Token) -> int:
    """Where `token` (placed in the text the template pre-pass gave) is in `source`."""
    where = source_map.location(token.line or 1, token.column or 1)
    start = 0
    for _ in range((where.line or 1) - 1):
        start = source.index("\n", start) + 1
    return start + (where.column or 1) - 1


def _align(lines: list[_Line]) -> list[_Line]:
    """Align `=` across a run of one-line attributes at the same indentation (a
    heredoc's counts as one: its body and end are part of its line)."""
    out = list(lines)
    group: list[int] = []

    def flush() -> None:
        if len(group) > 1:
            matches = {k: _ATTRIBUTE.match(out[k].text.strip()) for k in group}
            width = max(_columns(m.group(1)) for m in matches.values() if m)
            for k, match in matches.items():
                line = out[k].text
                indent = line[: len(line) - len(line.lstrip())]
                assert match is not None
                name = match.group(1)
                padding = " " * (width - _columns(name))
                text = f"{indent}{name}{padding} = {match.group(2)}".rstrip()
                out[k] = _Line(text)
        group.clear()

    for k, line in enumerate(lines):
        if line.heredoc:
            continue
        stripped = line.text.strip()
        indent = len(line.text) - len(line.text.lstrip())
        if not line.kept and stripped and _ATTRIBUTE.match(stripped) and not _opens(stripped):
            first = lines[group[0]].text if group else ""
            if group and len(first) - len(first.lstrip()) != indent:
                flush()
            group.append(k)
        else:
            flush()
    flush()
    return out


def _align_comments(lines: list[_Line]) -> list[_Line]:
    """Align the trailing `#` / `//` comments of consecutive lines one column past the
    longest line's code, as terraform fmt (hclwrite's formatCells): a run goes across
    nesting levels, and any line without code before such a comment ends it (a blank
    line, a comment of its own, one ending in `*/`, a heredoc)."""
    out = list(lines)
    run: list[tuple[int, str, str]] = []  # the line's index, its code, its comment

    def flush() -> None:
        width = max((_columns(code) for _, code, _ in run), default=0)
        for k, code, comment in run:
            out[k] = _Line(f"{code}{' ' * (width - _columns(code))} {comment}")
        run.clear()

    for k, line in enumerate(lines):
        scan = _scan(line.text.lstrip(), False) if not line.kept else None
        if scan is None or scan.comment <= 0:
            flush()
            continue
        at = len(line.text) - len(line.text.lstrip()) + scan.comment
        run.append((k, line.text[:at].rstrip(), line.text[at:]))
    flush()
    return out


def _columns(text: str) -> int:
    """How wide `text` is for alignment: its characters as a reader sees them (grapheme
    clusters: `e` and a combining accent are one), as terraform fmt counts them."""
    return len(regex.findall(r"\X", text))


def _opens(text: str) -> bool:
    scan = _scan(text, False)
    return scan.depth_change > 0 or bool(scan.inside)


def _finish(lines: list[_Line]) -> str:
    """The text, each line ended by a new line. Its blank lines stay, however many in a
    row and wherever they are (first, last, at a block's start or end), as `terraform
    fmt` keeps them: the author's spacing, never a layout rule's."""
    return "".join(f"{line.text}\n" for line in lines)


def _read_parsed(path: str) -> str:
    """The file's text, once it parsed; else the config loader's own ConfigError with
    file:line:col (unreadable, too large, not UTF-8, a syntax error), whether or not the
    layout would change; attributes and blocks sharing a line are no error here: fmt
    puts them on lines of their own. A leading BOM is no text: a rewritten file is
    written without."""
    from dstream.config.syntax import parse_text, read_source

    text = read_source(path)
    parse_text(text, path, own_lines=False)
    return text


def _same_meaning(before: str, after: str, path: str) -> None:
    """`before` (which parses, its attributes and blocks maybe sharing lines) and `after`
    (which must parse as every command reads it) parse to the same tree apart from
    layout (blanks, new lines, comments); else nothing is written."""
    from dstream.config.syntax import parse_tree

    try:
        was = _meaning(parse_tree(before, path, own_lines=False)[0])
        same = was == _meaning(parse_tree(after, path)[0])
    except ConfigError:
        same = False
    if not same:
        raise DstreamError(
            f"{path}: formatting would change the configuration's meaning; left as it is",
            hint="this is a bug in `dstream fmt`: please report it with the file",
        )


def _meaning(node: object) -> object:
    """A parse tree without its layout, as nested tuples."""
    if isinstance(node, Token):
        return (node.type, str(node)) if node.type in _CONTENT else node.type
    if isinstance(node, Tree):
        kept = [
            c
            for c in node.children
            if not (isinstance(c, Tree) and c.data == "new_line_or_comment")
        ]
        return (node.data, tuple(_meaning(c) for c in kept))
    return node


@record
class _Outcome:
    """What fmt found, file by file."""

    changed: list[str] = field(default_factory=list)  # rewritten (--check: would be)
    diffs: dict[str, str] = field(default_factory=dict)  # --diff --json: in the document
    refused: list[str] = field(default_factory=list)  # a rewrite changing the meaning
    unwritable: list[DstreamError] = field(default_factory=list)
    broken: Diagnostics = field(default_factory=Diagnostics)  # unreadable or unparsable
    unread: int = 0  # of `broken`: the paths that could not be read at all


def execute(args: argparse.Namespace, view: View) -> int:
    if "-" in args.paths:
        return _format_stdin(args, view)
    outcome = _Outcome()
    files, unread = find_files(args.paths, args.recursive)
    for exc in unread:
        _report_broken(exc, outcome, view)
    for path in files:
        _format_file(path, args, view, outcome)
    if view.json:
        view.document(_document(outcome, args.diff, args.check))
    return _summary(outcome, args.check, view)


def _format_stdin(args: argparse.Namespace, view: View) -> int:
    """`dstream fmt -`, as `terraform fmt -` for editors: the text on stdin formatted
    to stdout (`--check`: nothing written, exit 1 if it is not formatted; `--diff`: the
    diff instead). One that does not parse is an error (exit 2) and nothing is written."""
    import sys

    from dstream.config.limits import MAX_FILE_BYTES
    from dstream.config.syntax import decode_source, parse_text

    if args.paths != ["-"] or args.recursive or view.json:
        raise UsageError(
            "`dstream fmt -` formats stdin to stdout: it takes no other PATH, "
            "--recursive or --json",
            hint="run `dstream fmt -` alone, or name the files",
        )
    try:
        before = decode_source(sys.stdin.buffer.read(MAX_FILE_BYTES + 1), STDIN)
        # never kept: it is no file of the project
        parse_text(before, STDIN, cache=False, own_lines=False)
    except ConfigError as exc:
        view.error_block(exc)
        return EXIT_USAGE
    after = format_text(before)
    if args.diff:
        view.out.write(_unified_diff(before, after, STDIN))
    elif not args.check:
        view.out.write(after)
    view.out.flush()
    return EXIT_FAILURE if args.check and after != before else EXIT_OK


def _report_broken(exc: ConfigError, outcome: _Outcome, view: View) -> None:
    """A path that could not be read, or whose text is wrong: left alone, said."""
    outcome.broken.error(exc)
    outcome.unread += isinstance(exc, UnreadableSource)
    if not view.json:
        view.error_block(exc)


def _format_file(path: str, args: argparse.Namespace, view: View, outcome: _Outcome) -> None:
    """Check, and unless --check rewrite, one file; what happened goes in `outcome`."""
    try:
        before = _read_parsed(path)
    except ConfigError as exc:  # reported, left alone; the other files go on
        _report_broken(exc, outcome, view)
        return
    after = format_text(before)
    if after == before:
        return
    try:
        _same_meaning(before, after, path)
    except DstreamError as exc:  # a formatter bug: that file stays as it is
        outcome.refused.append(path)
        if not view.json:
            view.error_block(exc)
        return
    if not args.check:
        try:
            write(path, after)
        except DstreamError as exc:
            outcome.unwritable.append(exc)
            if not view.json:
                view.error_block(exc)
            return
    outcome.changed.append(path)
    if args.diff:
        diff = _unified_diff(before, after, path)
        if view.json:
            outcome.diffs[path] = diff
        else:
            view.out.write(diff)
            view.out.flush()  # on a terminal, each diff as it comes
    else:
        view.line(path)


def _unified_diff(before: str, after: str, path: str) -> str:
    """A unified diff that `patch` applies: a last line with no new line after it is
    marked so (difflib alone glues the next line to it)."""
    lines = difflib.unified_diff(_with_ends(before), _with_ends(after), path, path)
    return "".join(
        line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n" for line in lines
    )


def _with_ends(text: str) -> list[str]:
    """The lines of `text` with their new lines (split at new lines only, as fmt reads)."""
    lines = [f"{line}\n" for line in _split_lines(text)]
    if lines and not text.endswith("\n"):
        lines[-1] = lines[-1][:-1]
    return lines


def _document(outcome: _Outcome, diff: bool, check: bool) -> dict[str, object]:
    """The --json document: `ok` and `changed`, then only what applies."""
    failed = outcome.broken.errors or outcome.refused or outcome.unwritable
    document: dict[str, object] = {
        "ok": not (failed or (check and outcome.changed)),
        "changed": outcome.changed,
    }
    if diff:
        document["diffs"] = outcome.diffs
    if outcome.refused:
        document["refused"] = outcome.refused
    if outcome.unwritable:
        document["unwritable"] = [exc.to_dict() for exc in outcome.unwritable]
    if outcome.broken.errors:
        document["diagnostics"] = [d.to_dict() for d in outcome.broken.errors]
    return document


def _summary(outcome: _Outcome, check: bool, view: View) -> int:
    """One line per kind of problem (human output), and the exit code: 2 for a file or
    folder that could not be read or parsed, 1 for one that was not (or could not be)
    formatted."""
    if outcome.unread:
        view.info(f"{outcome.unread} path(s) could not be read: fix them, then run `dstream fmt`")
    wrong = len(outcome.broken.errors) - outcome.unread  # a syntax error, `a` set twice, ...
    if wrong:
        view.info(f"{wrong} file(s) have errors: fix them, then run `dstream fmt`")
    if outcome.refused:
        view.info(f"{len(outcome.refused)} file(s) left as they were: please report them")
    if outcome.unwritable:
        view.info(f"{len(outcome.unwritable)} file(s) could not be written: left as they were")
    if check and outcome.changed:
        view.info(f"{len(outcome.changed)} file(s) not formatted: run `dstream fmt` to fix them")
    if outcome.broken.errors:
        return EXIT_USAGE
    if outcome.refused or outcome.unwritable or (check and outcome.changed):
        return EXIT_FAILURE
    return EXIT_OK
