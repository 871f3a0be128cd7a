"""Transcripts: a command's full stdout, stderr and exit code, normalised so they are
the same on every run (times, durations, rates, sizes, paths, pids), compared with a
golden file in tests/cli/transcripts/. `DSTREAM_UPDATE_TRANSCRIPTS=1 pytest tests/cli`
rewrites the golden files instead (review the diff before committing it).

`contradictions` lists the lines that disagree with the exit code: a success word after
a failure, a Python repr, an error block printed twice."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.workspace import CliResult

GOLDEN = Path(__file__).parent / "transcripts"
UPDATE = os.environ.get("DSTREAM_UPDATE_TRANSCRIPTS") == "1"

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?( UTC)?"), "<time>"),
    (re.compile(r"\b(\d+ ms|<1 ms|\d+\.\d s|\d+m \d\ds|\d+h \d\dm)\b"), "<duration>"),
    # shown only after a second of streaming, which a loaded machine may reach
    (re.compile(r", [\d,.]+ frames/s"), ""),
    (re.compile(r"\b[\d.]+ (B|KiB|MiB|GiB)\b"), "<size>"),
    (re.compile(r"\bpid \d+"), "pid <pid>"),
    (re.compile(r"\b\d+s ago\b"), "<age> ago"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
]
# A stopped stream's amounts depend on when the signal came.
_RACY = re.compile(r"(?<=[\s(\[:=])\d[\d,]*(?=[\s),\]}]|$)")


def normalise(text: str, root: Path, *, racy: bool = False) -> str:
    text = text.replace(str(root), "<ws>").replace(os.path.realpath(root), "<ws>")
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    if racy:
        lines = [
            _RACY.sub("<n>", line) if not line.startswith(("$ ", "--- ")) else line
            for line in text.split("\n")
        ]
        text = "\n".join(_by_role(lines))
    return text


_ROLES = ("input: ", "output: ")


def _by_role(lines: list[str]) -> list[str]:
    """Each run of provider lines with the input's first, each role's in its order: the
    two stderr streams are relayed on threads of their own, so how their lines
    interleave once a stop races them is not dstream's to fix (seen under load)."""
    out: list[str] = []
    run: list[str] = []
    for line in [*lines, ""]:
        if line.startswith(_ROLES):
            run.append(line)
            continue
        out += sorted(run, key=lambda provider: not provider.startswith(_ROLES[0]))
        run = []
        out.append(line)
    return out[:-1]


def render(args: list[str], done: CliResult, root: Path, *, racy: bool = False) -> str:
    body = (
        f"$ dstream {' '.join(args)}\n"
        f"--- exit code: {done.returncode}\n"
        f"--- stdout:\n{done.stdout}"
        f"--- stderr:\n{done.stderr}"
    )
    return normalise(body, root, racy=racy)


def check(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if UPDATE or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        if not UPDATE:
            raise AssertionError(f"new transcript {path.name} written: review and commit it")
        return
    expected = path.read_text()
    assert text == expected, (
        f"transcript {path.name} changed (DSTREAM_UPDATE_TRANSCRIPTS=1 rewrites it):\n"
        f"--- expected\n{expected}\n--- got\n{text}"
    )


REPR = re.compile(r"\{'[^']*': |\[\('|<[a-zA-Z_.]+ object at 0x")
SUCCESS_WORDS = ("✅", "No changes", "successfully", "Success", " complete:")


def contradictions(done: CliResult) -> list[str]:
    """Lines that contradict the outcome the exit code gives."""
    found = []
    lines = (done.stdout + done.stderr).splitlines()
    if done.returncode != 0:
        found += [f"success word after a failure: {line}" for line in lines
                  if any(word in line for word in SUCCESS_WORDS)]  # fmt: skip
        if not any(line.startswith(("error:", "Destroy cancelled", "stopped by ", "lint failed"))
                   or ": error: " in line for line in done.stderr.splitlines()):  # fmt: skip
            found.append("a failure without an error line")
    else:
        found += [f"an error on success: {line}" for line in lines if line.startswith("error:")]
    found += [f"a Python repr: {line}" for line in lines if REPR.search(line)]
    errors = [line for line in lines if line.startswith("error:")]
    found += [f"error block repeated: {e}" for e in {e for e in errors if errors.count(e) > 1}]
    if "Traceback (most recent call last)" in done.stderr:
        found.append("a traceback")
    return found
