"""Help is text, with --json too (`dstream help run --json`, `dstream run --help --json`):
it is for a person, and README and docs/cli.md say so where they say which commands take
--json, rather than "every command but completion" (help printed text all the same)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
SAID = "help (`--help`, `dstream help`) is text, with `--json` too"


@pytest.mark.parametrize(
    "argv",
    [["help", "run", "--json"], ["run", "--help", "--json"], ["--json", "state", "show", "--help"]],
)
def test_help_is_text_with_json_too(ws: Workspace, argv: list[str]) -> None:
    done = ws.run(*argv)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: dstream "), done.stdout


@pytest.mark.parametrize("page", ["README.md", "docs/cli.md"])
def test_the_docs_say_help_takes_no_json(page: str) -> None:
    text = " ".join((ROOT / page).read_text().split())  # lines joined, as a reader reads
    assert SAID in text, page
