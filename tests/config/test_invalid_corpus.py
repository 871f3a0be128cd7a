"""Every file in invalid/ is a broken configuration whose last line says the exact error.

The last line is `# expect: LINE:COL: message`, where `{file}` stands for the file's own
path; the line before it may be `# hint: ...`, the exact hint. Keeping the expectation
in the file (at the end, so it moves no line numbers) makes each case readable on its
own.
"""

from __future__ import annotations

import glob
import os
from typing import Optional

import pytest

from dstream.config.loader import load_project
from dstream.errors import ConfigError

HERE = os.path.dirname(__file__)
CASES = sorted(glob.glob(os.path.join(HERE, "invalid", "*.hcl")))


def _expected(path: str) -> tuple[str, Optional[str]]:
    """The exact message and, when the case names it, the exact hint."""
    with open(path, encoding="utf-8") as handle:
        *_, before, last = handle.read().rstrip("\n").splitlines()
    assert last.startswith("# expect: "), f"{path} has no `# expect:` last line"
    hint = before[len("# hint: ") :] if before.startswith("# hint: ") else None
    return f"{path}:" + last[len("# expect: ") :].replace("{file}", path), hint


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("path", CASES, ids=[os.path.basename(c)[:-4] for c in CASES])
def test_invalid_config_reports_exact_message(path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        project = load_project(path, [], [], {})
        for name in project.names():  # an unset environment variable fails its task alone
            project.task(name)
    message, hint = _expected(path)
    assert str(caught.value) == message
    assert caught.value.hint, "every configuration error says what to do"
    if hint is not None:
        assert caught.value.hint == hint
