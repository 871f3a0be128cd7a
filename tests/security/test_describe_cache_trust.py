"""The describe cache (`$DSTREAM_CACHE_DIR/describe`) says what a provider is (does it
manage infrastructure, which config it takes) without starting it: an entry another
user could have written is ignored, as the warm snapshot and the parse cache are
(docs/security.md, "The describe cache")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dstream.runtime import description
from tests.ownership import AS_ROOT, LOOSENINGS, give_to_nobody, loosen
from tests.workspace import NO_COLOR, Workspace

# What the planted entry claims: a schema that takes no key at all.
PLANTED = {
    "format": description.CACHE_FORMAT,
    "features": [],
    "protocol": 1,
    "config_schema": {"type": "object", "properties": {}, "additionalProperties": False},
    "schema_known": True,
    "note": "planted",
    "answered": True,
}


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    cache = tmp_path / "cache"
    monkeypatch.setenv("DSTREAM_CACHE_DIR", str(cache))  # for description.cache_entry here
    return Workspace(root, env={**NO_COLOR, "DSTREAM_CACHE_DIR": str(cache)})


def planted(ws: Workspace) -> Path:
    """A provider of the original DStream (it answers a describe probe with no
    handshake, so it describes no config), a task giving it `x = 1`, and a describe
    entry for it, owner-only, claiming a schema without `x`."""
    script = ws.script("in.sh", "read -r line\nexit 1\n")
    ws.config(
        """
        task "t" {
          input {
            provider_path = "./in.sh"
            config { x = 1 }
          }
          output { provider_path = "dstream-console" }
        }
        """
    )
    entry = Path(str(description.cache_entry(str(script))))
    entry.parent.mkdir(parents=True, mode=0o700)
    entry.write_text(json.dumps(PLANTED))
    entry.chmod(0o600)
    return entry


def test_an_entry_only_its_owner_could_write_is_used(ws: Workspace) -> None:
    """The premise of the others: the planted entry is found and read."""
    planted(ws)
    done = ws.run("lint")
    assert done.returncode == 2, done.stderr
    assert "unknown config key 'x' for input './in.sh'" in done.stderr, done.stderr


@pytest.mark.parametrize("how", LOOSENINGS)
def test_an_entry_others_could_write_is_ignored(ws: Workspace, how: str) -> None:
    loosen(planted(ws), how)
    done = ws.run("lint")
    assert done.returncode == 0, done.stderr
    assert "unknown config key" not in done.stderr


@AS_ROOT
@pytest.mark.parametrize("owned_by_another", ["file", "folder"])
def test_an_entry_another_user_owns_is_ignored(ws: Workspace, owned_by_another: str) -> None:
    entry = planted(ws)
    before = entry.read_bytes()
    give_to_nobody(entry, owned_by_another)
    done = ws.run("lint")
    assert done.returncode == 0, done.stderr
    assert "unknown config key" not in done.stderr
    if owned_by_another == "file":  # replaced by what the probe learnt
        assert entry.stat().st_uid == os.geteuid() and entry.read_bytes() != before
    else:  # nothing is written into a folder another user owns
        assert [p.name for p in entry.parent.iterdir()] == [entry.name]
        assert entry.read_bytes() == before


def test_an_entry_written_under_umask_002_is_used(ws: Workspace, tmp_path: Path) -> None:
    """Debian's and Fedora's default umask for a user with a private group: an entry
    written with the umask's mode (0664) failed the ownership check on every read, so
    every command probed each provider again (the upgrade review's D2)."""
    script = ws.script("probe.sh", 'echo start >> "$(dirname "$0")/probes"\nexec cat\n')
    ws.config(f'task "t" {{\n  input {{ provider_path = "{script}" }}\n'
              '  output { provider_path = "dstream-null" }\n}\n')  # fmt: skip
    before = os.umask(0o002)
    try:
        for _ in range(3):
            ws.run("lint")
    finally:
        os.umask(before)
    assert (ws.root / "probes").read_text().count("start") == 1
    entry = Path(str(description.cache_entry(str(script))))
    assert entry.stat().st_mode & 0o022 == 0
