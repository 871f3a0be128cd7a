"""`encodings.longest` (the fragment of a secret at a cut edge, config/redact.py
`Redactor.edges`) compares only the sizes at which a form has the text's edge
character; it must find what comparing every size finds."""

from __future__ import annotations

import random

import pytest

from dstream.config.connstr import MIN_SECRET_LENGTH
from dstream.config.encodings import longest


def every_size(text: str, forms: list[str], at_end: bool) -> int:
    """The longest fragment by comparing every size, from the longest down."""
    best = 0
    for form in forms:
        for size in range(min(len(form) - 1, len(text)), max(best, MIN_SECRET_LENGTH - 1), -1):
            if text.endswith(form[:size]) if at_end else text.startswith(form[-size:]):
                best = size
                break
    return best


@pytest.mark.parametrize("seed", range(5))
def test_longest_finds_what_every_size_finds(seed: int) -> None:
    rnd = random.Random(seed)
    alphabet = "abAB+/="  # few characters: edges match often, at many sizes
    for _ in range(4000):
        forms = [
            "".join(rnd.choice(alphabet) for _ in range(rnd.randint(3, 14)))
            for _ in range(rnd.randint(1, 4))
        ]
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 16)))
        for at_end in (True, False):
            found = longest(text, forms, at_end=at_end)
            assert found == every_size(text, forms, at_end), (text, forms, at_end)


def test_a_fragment_at_either_edge() -> None:
    assert longest("log line Sup3rS", ["Sup3rSecret"], at_end=True) == 6
    assert longest("ecret more", ["Sup3rSecret"], at_end=False) == 5
    assert longest("log line Su", ["Sup3rSecret"], at_end=True) == 0  # under 3
