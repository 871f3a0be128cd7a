"""A parse tree decides which programs run (`provider_path`), so a tree another user
could have written is not trusted: one whose file or folder is not owned by the user,
or is writable by its group or others, is parsed again (docs/security.md, "The parse
cache"), as the warm snapshot and the describe cache are read."""

from __future__ import annotations

import marshal
import os
import zlib
from pathlib import Path

import pytest

from dstream.config import syntax
from dstream.config.loader import load_project_text
from dstream.config.tree import freeze
from tests.ownership import AS_ROOT, LOOSENINGS, give_to_nobody, loosen

TEXT = """
task "t" {
  input  { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
}
"""
EVIL = "/tmp/evil.sh"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DSTREAM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DSTREAM_PARSE_CACHE", raising=False)
    return tmp_path / "cache"


def plant(cache: Path) -> Path:
    """A tree of TEXT in which the input is EVIL, stored where TEXT's tree is looked for
    (as tester "security" planted one: /tmp/explore/security/t5/plant.py)."""
    tree = syntax.parses_to_tree(TEXT.replace("dstream-counter", EVIL), cache=False)
    stamp = f"{syntax.TREE_FORMAT}\0{syntax._grammar_stamp()}\0{TEXT}".encode()
    folder = cache / "hcl"
    folder.mkdir(parents=True, mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    path = folder / f"{zlib.crc32(stamp):08x}-{len(stamp)}.tree"
    path.write_bytes(marshal.dumps((stamp, freeze(tree))))
    path.chmod(0o600)
    return path


def input_path() -> str:
    return str(load_project_text(TEXT, "t.hcl").task("t").input.provider_path)


def test_a_tree_only_its_owner_could_write_is_used(cache: Path) -> None:
    """The premise of the others: the planted tree is found and used as a hit (a tree
    the user's own account wrote is trusted, as the user's own files are)."""
    plant(cache)
    assert input_path() == EVIL


@pytest.mark.parametrize("how", LOOSENINGS)
def test_a_tree_others_could_write_is_parsed_again(cache: Path, how: str) -> None:
    planted = plant(cache)
    loosen(planted, how)
    assert input_path() == "dstream-counter"
    # parsed again and kept in a folder closed to others: the next command hits
    assert planted.parent.stat().st_mode & 0o077 == 0
    assert planted.stat().st_mode & 0o077 == 0
    assert marshal.loads(planted.read_bytes())[0].endswith(TEXT.encode())
    assert input_path() == "dstream-counter"


@AS_ROOT
@pytest.mark.parametrize("owned_by_another", ["file", "folder"])
def test_a_tree_another_user_owns_is_parsed_again(cache: Path, owned_by_another: str) -> None:
    """The reproduction (/tmp/explore/security/t5): the planted tree chowned to nobody."""
    planted = plant(cache)
    before = planted.read_bytes()
    give_to_nobody(planted, owned_by_another)
    assert input_path() == "dstream-counter"
    if owned_by_another == "file":  # replaced by the user's own tree
        assert planted.stat().st_uid == os.geteuid() and planted.read_bytes() != before
        assert input_path() == "dstream-counter"
    else:  # nothing is written into a folder another user owns (it could read it)
        assert [p.name for p in planted.parent.iterdir()] == [planted.name]
        assert planted.read_bytes() == before
