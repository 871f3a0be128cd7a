"""Fuzz target for the configuration parser: HCL-ish text made of random tokens,
nesting, templates and heredocs. Whatever the text, loading it returns tasks or raises
ConfigError with a location; any other exception (RecursionError, MemoryError,
KeyError, ...) is a bug. A few hundred examples: a few seconds in CI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dstream.config.loader import load_project_text
from dstream.errors import ConfigError

NAMES = st.sampled_from(
    ["task", "input", "output", "config", "env", "locals", "variable", "local", "var",
     "provider_path", "x", "y", "for", "in", "if", "true", "null", "restart", "state"]
)  # fmt: skip
ATOMS = st.one_of(
    NAMES,
    st.sampled_from(
        ['"t"', '"${', "}", "${local.x}", "%{ if true }", "%{ endif }", "%{ for v in [1] }",
         "%{ endfor }", "{{ env \"HOME\" }}", "{{", "}}", "<<EOT\n", "<<-EOT\n", "\nEOT\n",
         "[", "]", "{", "}", "(", ")", "=", ":", ",", "...", ".", "*", "?", "=>", "!",
         "-", "+", "/", "%", "==", "&&", "\n", " ", "# c\n", "/* c */", "//", "1", "1e400",
         "99999999999999999999999", "0.5", '"\\u0000"', '"\\"', "\ufeff", "\x00",
         'jsondecode("[[[")', 'file("/dev/zero")', 'format("%99999d", 1)', "upper(",
         'replace("aaaa", "/(a+)+$/", "")', "env(", "local.", "var.", "[for", "{for"]
    ),
    st.text(max_size=4),
)  # fmt: skip
TEXTS = st.lists(ATOMS, max_size=60).map("".join)
VALID = (
    'task "t" {\n  input { provider_path = "dstream-counter" }\n'
    '  output {\n    provider_path = "dstream-null"\n    config { x = %s }\n  }\n}\n'
)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Random texts would fill the user's parse cache; keep them in the test's."""
    monkeypatch.setenv("DSTREAM_CACHE_DIR", str(tmp_path))
    yield


def _load(text: str) -> None:
    try:
        project = load_project_text(text, "fuzz.hcl", environ={"HOME": "/h"})
    except ConfigError as exc:
        assert exc.location is not None, f"no location: {exc!r}"
        return
    assert isinstance(project.tasks, dict)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
@example("[" * 5000)
@example('x = "' + "${" * 3000)
@example('\ufefftask "t" {}')
def test_any_text_loads_or_is_a_located_config_error(text: str) -> None:
    _load(text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
@example("[" * 5000 + "]" * 5000)
@example("(" * 5000 + "1" + ")" * 5000)
@example("1" + " + 1" * 5000)
@example('jsondecode("' + "[" * 5000 + '")')
def test_any_expression_in_a_valid_task(text: str) -> None:
    _load(VALID % text)
