"""The exit-code tables of README.md and docs/security.md list exactly the members of
dstream.errors.ExitCode, the one definition."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dstream.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]


def _table_codes(path: Path) -> set[int]:
    text = path.read_text()
    section = text[text.index("## Exit codes") :]
    section = section[: section.find("\n## ", 5)] if "\n## " in section[5:] else section
    return {int(code) for code in re.findall(r"^\|\s*(\d+)\s*\|", section, flags=re.M)}


@pytest.mark.parametrize("document", ["README.md", "docs/security.md"])
def test_the_exit_code_table_matches_the_enum(document: str) -> None:
    assert _table_codes(ROOT / document) == {int(code) for code in ExitCode}


def test_security_md_names_each_code() -> None:
    text = (ROOT / "docs/security.md").read_text()
    for code in ExitCode:
        assert re.search(rf"^\| {int(code)} \| {code.name} \|", text, flags=re.M), code
