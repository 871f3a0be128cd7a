"""A refusal of the configuration language, checked the same by both parsers: the quick
parser (config/quickparse.py), where it reads the text, and python-hcl2's grammar."""

from __future__ import annotations

import pytest

from dstream.config import syntax
from dstream.errors import ConfigError

# A task after the text under test, so that a configuration it leaves valid is whole.
TASK = """
task "t" {
  input { provider_path = "dstream-counter" }
  output {
    provider_path = "dstream-null"
  }
}
"""


def refused_by_both_parsers(monkeypatch: pytest.MonkeyPatch, text: str) -> str:
    """The refusal of `text` as dstream.hcl (not cached), the same from each parser."""
    said = []
    for quick in (True, False):
        monkeypatch.setattr(syntax, "_quick_parse_applies", lambda quick=quick: quick)
        with pytest.raises(ConfigError) as refused:
            syntax.parse_tree(text, "dstream.hcl", cache=False)
        said.append(str(refused.value))
    assert said[0] == said[1]
    return said[0]
