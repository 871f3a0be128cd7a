"""`dstream fmt [PATH...]`: rewrite .hcl files in the canonical layout, like
`terraform fmt`: two spaces per nesting level, one space around `=` and before `{` (a
one-line block's too), the `=` of consecutive one-line attributes aligned, no trailing
spaces, at most one blank line in a row, one newline at the end. Comments and heredocs
are kept as written.

`--check` (also `-check`) changes nothing and exits 1 when a file is not formatted (for
CI); `--diff` (`-diff`) prints what would change. Every file is parsed, laid out or not:
one that does not parse is reported with the parser's diagnostic (file:line:col) and
left alone, the others are still formatted, and the exit is 2. A rewrite whose parse
tree differs from the original's is refused and that file left alone (a formatter bug
must never change a configuration); the others are still formatted, and the exit is 1."""

from __future__ import annotations

import argparse
import difflib
import os
import re

from dstream.cli.view import View
from dstream.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, ConfigError, DstreamError, UsageError
from dstream.records import record

INDENT = "  "
OPENERS, CLOSERS = "{[(", "}])"
_ATTRIBUTE = re.compile(r"^([A-Za-z_][\w-]*)\s*=(?!=)\s*(.*)$")
_BLOCK_OPEN = re.compile(r'^([A-Za-z_][\w-]*(?:\s+(?:"[^"]*"|[A-Za-z_][\w-]*))*)\s*\{(.*)$')
_HEREDOC = re.compile(r"<<-?([A-Za-z_]\w*)\s*$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help=".hcl files or directories (default: .)"
    )
    parser.add_argument(
        "--check", "-check", action="store_true", help="change nothing; exit 1 if unformatted"
    )
    parser.add_argument("--diff", "-diff", action="store_true", help="print what would change")
    parser.add_argument(
        "--recursive", "-recursive", action="store_true", help="also format subdirectories"
    )


@record
class _Scan:
    """What a line does to the nesting, outside strings and comments."""

    depth_change: int = 0
    leading_closers: int = 0  # closers before anything else: the line itself dedents
    in_comment: bool = False  # a /* comment continues on the next line
    heredoc: str = ""  # a heredoc starts after this line, ending at this marker


def _scan(line: str, in_comment: bool) -> _Scan:
    scan = _Scan(in_comment=in_comment)
    i, n = 0, len(line)
    seen_other = False
    while i < n:
        ch = line[i]
        if scan.in_comment:
            end = line.find("*/", i)
            if end < 0:
                return scan
            scan.in_comment, i = False, end + 2
            continue
        if ch == "#" or line.startswith("//", i):
            break
        if line.startswith("/*", i):
            scan.in_comment, i = True, i + 2
            continue
        if ch == '"':
            i = _skip_string(line, i + 1)
            seen_other = True
            continue
        if ch in OPENERS:
            scan.depth_change += 1
        elif ch in CLOSERS:
            scan.depth_change -= 1
            if not seen_other:
                scan.leading_closers += 1
                i += 1
                continue
        if not ch.isspace():
            seen_other = True
        i += 1
    heredoc = _HEREDOC.search(line)
    if heredoc and not scan.in_comment:
        scan.heredoc = heredoc.group(1)
    return scan


def _skip_string(line: str, i: int) -> int:
    """The index after the closing quote (template braces inside are not nesting)."""
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == '"':
            return i + 1
        i += 1
    return i


def _normalise(text: str) -> str:
    """One space around an attribute's `=` and before a block's `{`; a one-line block's
    attribute spaced as on a line of its own."""
    attribute = _ATTRIBUTE.match(text)
    if attribute:
        return f"{attribute.group(1)} = {attribute.group(2)}".rstrip()
    block = _BLOCK_OPEN.match(text)
    if block:
        rest = block.group(2).strip()
        inner = rest[:-1].strip()
        if rest.endswith("}") and _ATTRIBUTE.match(inner):  # `output {path="x"}`
            rest = f"{_normalise(inner)} }}"
        return f"{' '.join(block.group(1).split())} {{" + (f" {rest}" if rest else "")
    return text


def format_text(source: str) -> str:
    lines: list[str] = []
    depth, in_comment, heredoc = 0, False, ""
    for raw in source.splitlines():
        if heredoc:  # a heredoc's body is data: kept byte for byte
            lines.append(raw)
            if raw.strip() == heredoc:
                heredoc = ""
            continue
        text = raw.strip()
        if in_comment:  # inside /* ... */: keep the author's layout
            lines.append(raw.rstrip())
            in_comment = _scan(raw, True).in_comment
            continue
        scan = _scan(text, False)
        level = max(depth - scan.leading_closers, 0)
        lines.append(INDENT * level + _normalise(text) if text else "")
        depth = max(depth + scan.depth_change, 0)
        in_comment, heredoc = scan.in_comment, scan.heredoc
    return _finish(_align(lines))


def _align(lines: list[str]) -> list[str]:
    """Align `=` across a run of one-line attributes at the same indentation."""
    out = list(lines)
    group: list[int] = []

    def flush() -> None:
        if len(group) > 1:
            width = max(len(_ATTRIBUTE.match(out[k].strip()).group(1)) for k in group)  # type: ignore[union-attr]
            for k in group:
                indent = out[k][: len(out[k]) - len(out[k].lstrip())]
                match = _ATTRIBUTE.match(out[k].strip())
                assert match is not None
                out[k] = f"{indent}{match.group(1).ljust(width)} = {match.group(2)}".rstrip()
        group.clear()

    for k, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped and _ATTRIBUTE.match(stripped) and not _opens(stripped):
            if group and len(lines[group[0]]) - len(lines[group[0]].lstrip()) != indent:
                flush()
            group.append(k)
        else:
            flush()
    flush()
    return out


def _opens(text: str) -> bool:
    scan = _scan(text, False)
    return scan.depth_change > 0 or bool(scan.heredoc)


def _finish(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if not line.strip() and (not out or not out[-1].strip()):
            continue  # no blank line first or twice in a row
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def _read_parsed(path: str) -> str:
    """The file's text, once it parsed; else the config loader's own ConfigError with
    file:line:col (unreadable, too large, not UTF-8, a syntax error), whether or not the
    layout would change. A leading BOM is no text: a rewritten file is written without."""
    from dstream.config.syntax import parse_text, read_source

    text = read_source(path)
    parse_text(text, path)
    return text


def _same_meaning(before: str, after: str, path: str) -> None:
    """`before` (which parses) and `after` parse to the same tree apart from layout; else
    nothing is written."""
    import hcl2

    if hcl2.loads(before) != hcl2.loads(after):
        raise DstreamError(
            f"{path}: formatting would change the configuration's meaning; left as it is",
            hint="this is a bug in `dstream fmt`: please report it with the file",
        )


def _files(paths: list[str], recursive: bool) -> list[str]:
    found: list[str] = []
    for path in paths or ["."]:
        if os.path.isfile(path):
            found.append(path)
        elif os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
                found += [
                    os.path.normpath(os.path.join(root, n))
                    for n in sorted(names)
                    if n.endswith(".hcl")
                ]
        else:
            raise UsageError(f"no such file or directory: {path}", hint="name .hcl files or dirs")
    return found


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream.config.diagnostics import Diagnostics

    changed: list[str] = []
    refused: list[str] = []  # a rewrite that would change the meaning: a formatter bug
    broken = Diagnostics()
    for path in _files(args.paths, args.recursive):
        try:
            before = _read_parsed(path)
        except ConfigError as exc:  # reported, left alone; the other files go on
            broken.error(exc)
            if not view.json:
                view.error_block(exc)
            continue
        after = format_text(before)
        if after == before:
            continue
        try:
            _same_meaning(before, after, path)
        except DstreamError as exc:
            refused.append(path)
            if not view.json:
                view.error_block(exc)
            continue
        changed.append(path)
        if args.diff:
            view.out.writelines(
                difflib.unified_diff(
                    before.splitlines(True), after.splitlines(True), f"{path}", f"{path}"
                )
            )
        if not args.check:
            tmp = path + ".fmt.tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(after)
            os.replace(tmp, path)
        if not args.diff:
            view.line(path)
    if view.json:
        failed = broken.errors or refused or (args.check and changed)
        document: dict[str, object] = {"ok": not failed, "changed": changed}
        if refused:
            document["refused"] = refused
        if broken.errors:
            document["diagnostics"] = [d.to_dict() for d in broken.errors]
        view.document(document)
    if broken.errors:
        view.info(f"{len(broken.errors)} file(s) do not parse: fix them, then run `dstream fmt`")
        return EXIT_USAGE
    if refused:
        view.info(f"{len(refused)} file(s) left as they were: please report them")
        return EXIT_FAILURE
    if args.check and changed:
        view.info(f"{len(changed)} file(s) not formatted: run `dstream fmt` to fix them")
        return EXIT_FAILURE
    return EXIT_OK
