"""Every code block of README.md and docs/**/*.md marked runnable is run, as printed,
with the real `dstream` (issue 19.10: docs that disagreed with behaviour). The marking
convention is documented in docs/contributing.md; in short, one HTML comment on the
line right before a fenced block:

    <!-- runnable -->            sh: run by bash -euo pipefail; hcl: written as
                                 dstream.hcl and `dstream lint`ed; python: run; json:
                                 parsed
    <!-- runnable: OPTIONS -->   file=NAME  write the block to NAME (an .hcl is linted
                                            with -c NAME; nothing else is run)
                                 exit=N     the exit status a sh/python block must end with
                                 timeout=S  seconds a block may take (default 30)
                                 setup=CMD  a shell command run first (e.g. a state to resume)
                                 env=K=V    an environment variable for the block
                                 stdout / stderr  the block is what the previous block
                                            that ran printed there: text with `...` matching
                                            anything; json compared as values, "..." any value
                                 ignore=K,K  json keys (any depth) left out of the comparison
    <!-- not runnable: WHY -->   a block that cannot run here, and why

The blocks of one document run in order in one fresh temporary directory (HOME and
XDG_STATE_HOME point inside it), so a document can write a configuration and then run
commands on it. Every sh and hcl block, and every block with a line that starts
`dstream ` or `$ dstream `, must carry one of the two markers, so a new example cannot
slip in untested; a marker that is not followed by a block, or has an
unknown option, fails the collection. Every hcl block, runnable or not, must also be as
`dstream fmt` writes it; only a fragment with `...` in its code is exempt.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
MUST_BE_MARKED = {"sh", "hcl"}  # blocks that document a command or a configuration
FENCE = re.compile(r"^```(\S*)\s*$")
MARKER = re.compile(r"^<!--\s*(runnable|not runnable)\s*(?::\s*(.*?))?\s*-->\s*$")
OPTIONS = {"file", "exit", "timeout", "setup", "env", "stdout", "stderr", "ignore"}
DEFAULT_TIMEOUT = 30.0


class SnippetError(Exception):
    """A marked block that is malformed, or that did not do what its document says."""


@dataclass
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marker: Optional[str] = None  # "runnable" | "not runnable" | None
    options: dict[str, list[str]] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.doc.name}:{self.line}"

    def option(self, name: str, default: str = "") -> str:
        return self.options.get(name, [default])[-1]

    @property
    def compares(self) -> Optional[str]:
        """Which output of the block before it this block shows (stdout / stderr), if any."""
        return next((s for s in ("stdout", "stderr") if s in self.options), None)


def _parse_options(where: str, text: str) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise SnippetError(f"{where}: the marker's options do not parse: {exc}") from None
    for word in words:
        name, _, value = word.partition("=")
        if name not in OPTIONS:
            raise SnippetError(
                f"{where}: unknown marker option {name!r} (known: {sorted(OPTIONS)})"
            )
        options.setdefault(name, []).append(value)
    for name, kind in (("exit", int), ("timeout", float)):
        for value in options.get(name, []):
            try:
                kind(value)
            except ValueError:
                raise SnippetError(f"{where}: {name}={value!r} is not a number") from None
    return options


def collect(doc: Path) -> list[Block]:
    """The document's fenced blocks with their markers; SnippetError when malformed."""
    lines = doc.read_text().splitlines()
    blocks: list[Block] = []
    pending: Optional[tuple[int, str, str]] = None  # line, kind, options of a marker
    index = 0
    while index < len(lines):
        line = lines[index]
        where = f"{doc.name}:{index + 1}"
        marker = MARKER.match(line)
        fence = FENCE.match(line)
        if pending is not None and not fence:
            raise SnippetError(f"{doc.name}:{pending[0]}: a marker must stand right before a block")
        if marker:
            pending = (index + 1, marker.group(1), marker.group(2) or "")
        elif fence:
            end = next((i for i in range(index + 1, len(lines)) if lines[i] == "```"), None)
            if end is None:
                raise SnippetError(f"{where}: the block is never closed")
            block = Block(doc, index + 1, fence.group(1), "\n".join(lines[index + 1 : end]) + "\n")
            if pending is not None:
                block.marker = pending[1]
                if block.marker == "not runnable" and not pending[2]:
                    raise SnippetError(f"{where}: `not runnable` needs a reason after a colon")
                if block.marker == "runnable":
                    block.options = _parse_options(where, pending[2])
                pending = None
            blocks.append(block)
            index = end
        index += 1
    if pending is not None:
        raise SnippetError(f"{doc.name}:{pending[0]}: a marker must stand right before a block")
    return blocks


COMMAND_LINE = re.compile(r"^(\$ )?dstream( |$)", re.M)


def unmarked(blocks: list[Block]) -> list[str]:
    """Where a block that documents a command (an sh block, or any block with a line
    that starts `dstream ...` / `$ dstream ...`) or a configuration has no marker."""
    return [
        b.where
        for b in blocks
        if b.marker is None and (b.lang in MUST_BE_MARKED or COMMAND_LINE.search(b.text))
    ]


# -- running ------------------------------------------------------------------------------


@dataclass
class Ran:
    block: Block
    stdout: str
    stderr: str


def environment(workdir: Path, block: Block) -> dict[str, str]:
    """This interpreter's scripts (dstream, dstream-counter, ...) first on PATH; home and
    state inside the workspace; plain text output."""
    env = {**os.environ, "HOME": str(workdir), "XDG_STATE_HOME": str(workdir / "xdg-state")}
    env.update(NO_COLOR="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    env.pop("DSTREAM_CONFIG", None)
    env.pop("DSTREAM_STATE_DIR", None)
    for pair in block.options.get("env", []):
        name, _, value = pair.partition("=")
        env[name] = value
    return env


def _execute(block: Block, argv: list[str], workdir: Path) -> Ran:
    timeout = float(block.option("timeout", str(DEFAULT_TIMEOUT)))
    env = environment(workdir, block)
    setup = block.option("setup")
    if setup:
        script = ["bash", "-euo", "pipefail", "-c", setup]
        done = subprocess.run(script, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip
        if done.returncode != 0:
            raise SnippetError(f"{block.where}: setup {setup!r} failed:\n{done.stderr}")
    try:
        done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise SnippetError(f"{block.where}: still running after {timeout:g} s") from None
    expected = int(block.option("exit", "0"))
    if done.returncode != expected:
        raise SnippetError(
            f"{block.where}: exited {done.returncode}, the document expects {expected}\n"
            f"--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
        )
    return Ran(block, done.stdout, done.stderr)


def _matches_text(expected: str, actual: str) -> bool:
    """doctest's ELLIPSIS: `...` matches any text, across lines too; trailing spaces and
    trailing blank lines do not count."""

    def norm(text: str) -> str:
        return "\n".join(line.rstrip() for line in text.rstrip().splitlines())

    pattern = ".*?".join(re.escape(part) for part in norm(expected).split("..."))
    return re.fullmatch(pattern, norm(actual), re.S) is not None


def json_values(text: str) -> list[object]:
    decoder = json.JSONDecoder()
    values, at = [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return values
        value, at = decoder.raw_decode(text, at)
        values.append(value)


def _matches_json(expected: object, actual: object, ignore: set[str]) -> bool:
    if expected == "...":
        return True
    if isinstance(expected, dict) and isinstance(actual, dict):
        keys = expected.keys() - ignore
        return keys == actual.keys() - ignore and all(
            _matches_json(expected[k], actual[k], ignore) for k in keys
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            _matches_json(e, a, ignore) for e, a in zip(expected, actual)
        )
    return expected == actual and type(expected) is type(actual)


def _compare(block: Block, previous: Optional[Ran]) -> None:
    stream = block.compares
    if previous is None or stream is None:
        raise SnippetError(f"{block.where}: an output block must follow a block that runs")
    actual = previous.stdout if stream == "stdout" else previous.stderr
    if block.lang == "json":
        ignore = {k for item in block.options.get("ignore", []) for k in item.split(",") if k}
        try:
            got, want = json_values(actual), json_values(block.text)
        except ValueError as exc:
            raise SnippetError(f"{block.where}: not JSON: {exc}\n{actual}") from None
        same = len(got) == len(want) and all(_matches_json(w, g, ignore) for w, g in zip(want, got))
    else:
        same = _matches_text(block.text, actual)
    if not same:
        raise SnippetError(
            f"{block.where}: {previous.block.where} printed on {stream}:\n{actual}"
            f"--- but the document shows:\n{block.text}"
        )


def _lint(block: Block, name: str, workdir: Path) -> Ran:
    args = ["-c", name] if name != "dstream.hcl" else []
    return _execute(block, ["dstream", "lint", *args], workdir)


def run_document(blocks: list[Block], workdir: Path) -> int:
    """Run the runnable blocks in order in `workdir`: how many ran; SnippetError at the
    first that does not do what the document says."""
    previous: Optional[Ran] = None
    count = 0
    for block in (b for b in blocks if b.marker == "runnable"):
        count += 1
        if block.compares:
            _compare(block, previous)
            continue
        name = block.option("file")
        if name or block.lang == "hcl":
            target = workdir / (name or "dstream.hcl")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text)
            if target.suffix == ".hcl":
                previous = _lint(block, name or "dstream.hcl", workdir)
        elif block.lang == "sh":
            previous = _execute(block, ["bash", "-euo", "pipefail", "-c", block.text], workdir)
        elif block.lang == "python":
            previous = _execute(block, [sys.executable, "-c", block.text], workdir)
        elif block.lang == "json":
            try:
                json_values(block.text)
            except ValueError as exc:
                raise SnippetError(f"{block.where}: not JSON: {exc}") from None
        else:
            raise SnippetError(f"{block.where}: a {block.lang or 'plain'} block cannot run; "
                               "give it file=NAME, stdout or stderr")  # fmt: skip
    return count


# -- the documents --------------------------------------------------------------------------


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_and_configuration_block_is_marked(doc: Path) -> None:
    assert unmarked(collect(doc)) == [], (
        "mark each: <!-- runnable --> or <!-- not runnable: WHY -->"
    )


def _runs_something(doc: Path) -> bool:
    try:
        return any(b.marker == "runnable" for b in collect(doc))
    except SnippetError:
        return True  # malformed: its test says where


RUNNABLE = [d for d in DOCS if _runs_something(d)]
PARALLEL = 4  # documents run at once: most of a block's time is waiting on a process


def _outcome(doc: Path, workdir: Path) -> str:
    """ "" when every runnable block of `doc` did what the document says, else why not."""
    try:
        return "" if run_document(collect(doc), workdir) else f"{doc.name}: nothing ran"
    except SnippetError as exc:
        return str(exc)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, str]:
    """Every document's outcome, run side by side, each in its own fresh directory."""
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {d: pool.submit(_outcome, d, tmp_path_factory.mktemp(d.stem)) for d in RUNNABLE}
        return {doc: future.result() for doc, future in futures.items()}


@pytest.mark.parametrize("doc", RUNNABLE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_runnable_blocks_do_what_the_document_says(
    doc: Path, outcomes: dict[Path, str]
) -> None:
    if outcomes[doc]:
        pytest.fail(outcomes[doc], pytrace=False)


def test_the_readme_and_the_command_reference_have_runnable_examples() -> None:
    assert {ROOT / "README.md", ROOT / "docs" / "cli.md"} <= set(RUNNABLE)


# `...` standing for what a fragment leaves out (`task "NAME" { ... }`), in the code: not
# after a value (`t...`, a for expression's grouping); strings and comments taken out.
ELISION = re.compile(r"(?<![\w.])\.\.\.(?![\w.])")
STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|(?:#|//)[^\n]*|/\*.*?\*/', re.S)


def is_fragment(block: Block) -> bool:
    """A block that is HCL only in part on purpose: one with an elision `...`."""
    return bool(ELISION.search(STRING_OR_COMMENT.sub(" ", block.text)))


def test_every_hcl_example_is_as_dstream_fmt_writes_it(tmp_path: Path) -> None:
    """A reader copies an example and `dstream fmt --check` in CI must pass on it: every
    hcl block of the docs (a fragment with `...` aside, which cannot parse) is in the
    canonical layout already. One `fmt --check` over all of them, each a file named by
    its document and line."""
    fragments = []
    for doc in DOCS:
        for block in collect(doc):
            if block.lang != "hcl":
                continue
            if is_fragment(block):
                fragments.append(block)
                continue
            name = f"{doc.relative_to(ROOT)}-{block.line}.hcl".replace(os.sep, "_")
            (tmp_path / name).write_text(block.text)
    assert all(b.marker == "not runnable" for b in fragments), [b.where for b in fragments]
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(["dstream", "fmt", "--check", "--diff", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, (
        "write these examples as `dstream fmt` does (DOC-LINE: the line of the block's "
        f"fence):\n{done.stdout}{done.stderr}"
    )


# -- the collector and runner themselves, on synthetic documents ---------------------------

GOOD = """# A document
<!-- runnable -->
```hcl
task "t" {
  input {
    provider_path = "dstream-counter"
    config {
      max_count = 3
      interval  = 0
    }
  }
  output {
    provider_path = "dstream-console"
    config { format = "json" }
  }
}
```
<!-- runnable -->
```sh
dstream run t --quiet
```
<!-- runnable: stdout ignore=timestamp -->
```json
{"data":{"value":1,"timestamp":"..."},"metadata":"..."}
"..."
{"data":{"value":3},"metadata":"..."}
```
<!-- not runnable: needs a cluster -->
```sh
kubectl apply -f x.yaml
```
"""


def _doc(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "doc.md"
    path.write_text(text)
    return path


def _fails(tmp_path: Path, text: str, match: str) -> None:
    workdir = tmp_path / "ws"
    workdir.mkdir()
    with pytest.raises(SnippetError, match=match):
        run_document(collect(_doc(tmp_path, text)), workdir)


def test_a_good_document_runs(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    blocks = collect(_doc(tmp_path, GOOD))
    assert unmarked(blocks) == []
    assert run_document(blocks, tmp_path / "ws") == 3


@pytest.mark.parametrize(
    ("broken", "match"),
    [
        (GOOD.replace("input ", "inptu "), r"doc.md:3: exited 2"),  # `dstream lint` fails
        (GOOD.replace("run t --quiet", "run nope"), r"doc.md:19: exited 2"),
    ],
)
def test_a_block_dstream_refuses_fails_the_document(
    tmp_path: Path, broken: str, match: str
) -> None:
    _fails(tmp_path, broken, match)


# The same shape without dstream, so that each way of breaking it costs no start-up.
CHEAP = """# A document
<!-- runnable -->
```sh
printf '%s\\n' '{"value":1,"at":"12:00"}' '{"value":2}' '{"value":3,"at":"12:01"}'
echo "task t: completed after 1.2 s" >&2
```
<!-- runnable: stdout ignore=at -->
```json
{"value":1,"at":"..."}
"..."
{"value":3}
```
<!-- runnable: stderr -->
```
task t: completed after ... s
```
<!-- not runnable: needs a cluster -->
```sh
kubectl apply -f x.yaml
```
"""


def test_the_cheap_document_runs(tmp_path: Path) -> None:
    assert run_document(collect(_doc(tmp_path, CHEAP)), tmp_path) == 3


@pytest.mark.parametrize(
    ("broken", "match"),
    [
        (CHEAP.replace('{"value":1,"at":"..."}', '{"value":2,"at":"..."}'), "doc.md:8: doc.md:3"),
        (CHEAP.replace(" ignore=at", ""), r"doc.md:8: doc.md:3 printed on stdout"),
        (CHEAP.replace("completed after ...", "failed after ..."), "doc.md:14: .* on stderr"),
        (CHEAP.replace("runnable: stdout ", "runnable: stdot "), "unknown marker"),
        (CHEAP.replace("<!-- runnable -->\n", "<!-- runnable -->\n\n"), "right before a block"),
        (CHEAP.replace("not runnable: needs a cluster", "not runnable"), "needs a reason"),
        (CHEAP.replace(">&2", ">&2; false"), "doc.md:3: exited 1"),  # bash -e
        (CHEAP.replace("<!-- runnable -->", "<!-- runnable: exit=3 -->"), "expects 3"),
        (
            CHEAP.replace(">&2", ">&2; sleep 5").replace(
                "<!-- runnable -->", "<!-- runnable: timeout=0.5 -->"
            ),
            "still running after 0.5 s",
        ),
        (CHEAP.replace("<!-- runnable -->\n```sh\nprintf", "```sh\nprintf"), "must follow"),
        (CHEAP + "<!-- runnable -->\n```c\nint main;\n```\n", "cannot run"),
        (CHEAP + "```sh\nunclosed\n", "never closed"),
        (CHEAP.replace("<!-- runnable -->", "<!-- runnable: exit=one -->"), "not a number"),
    ],
)
def test_a_broken_block_fails_the_document(tmp_path: Path, broken: str, match: str) -> None:
    _fails(tmp_path, broken, match)


def test_setup_runs_first_then_the_block(tmp_path: Path) -> None:
    text = (
        '<!-- runnable: setup="echo set > f" env=WHO=block -->\n```sh\necho "$WHO"; cat f\n```\n'
        "<!-- runnable: stdout -->\n```\nblock\nset\n```\n"
    )
    assert run_document(collect(_doc(tmp_path, text)), tmp_path) == 2


def test_an_unmarked_command_block_is_reported(tmp_path: Path) -> None:
    text = CHEAP.replace("<!-- not runnable: needs a cluster -->\n", "")
    text += "```\n$ dstream plan t\nPlan: 1 to create\n```\n```\na diagram\n```\n"
    assert unmarked(collect(_doc(tmp_path, text))) == ["doc.md:17", "doc.md:20"]


def test_text_output_matches_with_ellipsis() -> None:
    assert _matches_text("task t: completed after ... s\n...\nstate 1", "task t: completed after"
                         " 1.2 s\n  frames 3\n  tables 1\nstate 1  \n\n")  # fmt: skip
    assert not _matches_text("frames 3", "frames 4")
