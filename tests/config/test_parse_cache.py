"""The parse tree cache (config/syntax.parses_to_tree): a cached tree evaluates exactly
like a fresh parse, and loading from it does not import lark (40 ms of every command)."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dstream.config.loader import load_project, load_project_text
from dstream.config.tree import Token, Tree, freeze, thaw
from dstream.errors import ConfigError
from dstream.records import asdict

HERE = os.path.dirname(__file__)

PROVIDERS = """
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
"""

HEREDOC = """
locals {
  name = "orders"
}
task "t" {
  input {
    provider_path = "dstream-counter"
    config = {
      query = <<-EOT
        select * from ${local.name}
        where id > ${1 + 1}
      EOT
    }
  }
  output { provider_path = "dstream-console" }
}
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DSTREAM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cached_tree_evaluates_like_a_fresh_parse(cache: Path) -> None:
    path = os.path.join(HERE, "valid", "reference.hcl")
    environ = {"DATABASE_CONNECTION_STRING": "Server=db"}
    fresh = load_project(path, [], [], environ)
    assert list((cache / "hcl").glob("*.tree")), "the first load stored its tree"
    cached = load_project(path, [], [], environ)
    assert asdict(cached.tasks["mssql-to-queue"]) == asdict(fresh.tasks["mssql-to-queue"])
    for text in (HEREDOC, HEREDOC):  # a miss, then a hit (heredoc parts are cached too)
        config = load_project_text(text, "h.hcl").tasks["t"].input.config
        assert config == {"query": "select * from orders\nwhere id > 2\n"}


def test_a_cache_file_of_another_text_is_not_used(cache: Path) -> None:
    """File names are a crc32: should two texts share one, the stamp stored inside
    tells them apart."""
    text = 'task "t" {\n' + PROVIDERS + "}\n"
    assert load_project_text(text, "a.hcl").tasks["t"].input.provider_path == "dstream-counter"
    (path,) = (cache / "hcl").glob("*.tree")
    path.write_bytes(marshal.dumps((b"another text", freeze(Tree("start", [])))))
    assert load_project_text(text, "a.hcl").tasks["t"].input.provider_path == "dstream-counter"
    stamp, _ = marshal.loads(path.read_bytes())
    for damaged in (b"not marshal data", marshal.dumps((stamp, ("x", (1,), 0, 0)))):
        path.write_bytes(damaged)
        assert load_project_text(text, "a.hcl").tasks["t"].input.provider_path == "dstream-counter"


def test_syntax_error_is_located_with_or_without_a_cache(cache: Path) -> None:
    for _ in range(2):  # nothing is cached for a text that does not parse
        with pytest.raises(ConfigError) as caught:
            load_project_text('task "t" {\n  input {\n', "broken.hcl")
        assert "syntax error" in caught.value.reason
        assert caught.value.location is not None and caught.value.location.file == "broken.hcl"


FOR_EXPRESSION = f"""
locals {{
  names = [for n in ["a", "b"] : upper(n)]
}}
task "t" {{
{PROVIDERS}
}}
"""


def test_loading_from_the_cache_does_not_import_lark(cache: Path, tmp_path: Path) -> None:
    """A for expression: a text config/quickparse.py leaves to lark, so the miss
    imports it."""
    path = tmp_path / "dstream.hcl"
    path.write_text(FOR_EXPRESSION)
    code = (
        "import sys, os\n"
        "from dstream.config.loader import load_project\n"
        f"load_project({str(path)!r}, [], [], {{}})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lark', 'hcl2', 'pickle')))\n"
    )
    env = {**os.environ, "DSTREAM_CACHE_DIR": str(cache)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "lark" in first.stdout  # a miss parses, with lark for this text
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "[]"


def test_the_grammar_stamp_names_the_hcl2_the_import_finds() -> None:
    """The cache key's grammar is found on sys.path without importlib.util (issue 22):
    the same file as the import machinery's answer, so an upgrade of python-hcl2 still
    invalidates every cached tree."""
    import importlib.util

    from dstream.config.syntax import _grammar_stamp

    spec = importlib.util.find_spec("hcl2")
    assert spec is not None and spec.origin is not None
    grammar = os.stat(os.path.join(os.path.dirname(spec.origin), "hcl2.lark"))
    assert _grammar_stamp() == f"{grammar.st_size}:{grammar.st_mtime_ns}"


def test_a_frozen_tree_thaws_equal_with_its_positions() -> None:
    tree = Tree("start", [Token("NAME", "a", 1, 2), None, Tree("body", [], None, None)], 1, 1)
    back = thaw(marshal.loads(marshal.dumps(freeze(tree))))
    assert back == tree
    token = back.children[0]
    assert isinstance(token, Token) and (token.type, token.line, token.column) == ("NAME", 1, 2)
    assert back.children[2].line is None and back.line == 1
