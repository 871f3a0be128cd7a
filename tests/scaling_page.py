"""The figures docs/scaling.md states with the defaults, for the tests that hold the
code to them: a page that says 22 s where the code takes 23 s misleads whoever sizes
a deployment by it, and nothing else would notice."""

from __future__ import annotations

import re
from pathlib import Path

SCALING = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"


def stated(pattern: str) -> tuple[int, ...]:
    """The whole numbers `pattern`'s groups capture in docs/scaling.md, read as running
    text: its line breaks and bold are layout, not part of a sentence. Fails when the
    page no longer says it: a sentence reworded must be found again, not skipped."""
    text = re.sub(r"\s+", " ", SCALING.read_text(encoding="utf-8").replace("**", ""))
    found = re.search(pattern, text)
    assert found is not None, f"docs/scaling.md no longer says /{pattern}/"
    return tuple(int(number) for number in found.groups())
