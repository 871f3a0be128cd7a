"""The parse cache (`$DSTREAM_CACHE_DIR/hcl`) holds the text of every configuration it
parsed, literal secrets included (docs/security.md, "The parse cache"): only its owner
may read it, and `DSTREAM_PARSE_CACHE=0` keeps a configuration out of it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dstream.config.loader import load_project_text

TEXT = """
task "t" {
  input {
    provider_path = "dstream-counter"
    config { dsn = "server=db;password=Literal-Secret-42" }
  }
  output { provider_path = "dstream-console" }
}
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DSTREAM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DSTREAM_PARSE_CACHE", raising=False)
    return tmp_path / "cache"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_cache_holds_the_literal_text_readable_by_its_owner_only(cache: Path) -> None:
    load_project_text(TEXT, "t.hcl")
    files = list((cache / "hcl").glob("*.tree"))
    assert len(files) == 1
    assert b"Literal-Secret-42" in files[0].read_bytes()  # what docs/security.md warns of
    assert _mode(cache / "hcl") == 0o700
    assert _mode(files[0]) == 0o600


def test_a_directory_an_earlier_version_left_open_is_closed(cache: Path) -> None:
    (cache / "hcl").mkdir(parents=True, mode=0o755)
    (cache / "hcl").chmod(0o755)
    load_project_text(TEXT, "t.hcl")
    assert _mode(cache / "hcl") == 0o700


def test_the_cache_can_be_turned_off(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSTREAM_PARSE_CACHE", "0")
    config = load_project_text(TEXT, "t.hcl").task("t").input.config
    assert config == {"dsn": "server=db;password=Literal-Secret-42"}
    assert not (cache / "hcl").exists()


VARIABLES = """
variable "db" {
  type      = object({ user = string, password = string })
  sensitive = true
}
variable "plain" {
  type      = string
  sensitive = true
}
task "t" {
  input {
    provider_path = "dstream-counter"
    env           = { P = var.db.password, Q = var.plain }
  }
  output { provider_path = "dstream-console" }
}
"""


def test_values_given_from_outside_the_file_are_never_cached(cache: Path, tmp_path: Path) -> None:
    from dstream.config.loader import load_project

    (tmp_path / "dstream.hcl").write_text(VARIABLES)
    (tmp_path / "prod.tfvars").write_text('plain = "FileSecret-777"\n')
    environ = {"DSTREAM_VAR_db": '{user = "a", password = "EnvSecret-999"}'}
    project = load_project(
        str(tmp_path / "dstream.hcl"), [], [str(tmp_path / "prod.tfvars")], environ
    )
    assert project.task("t").input.env == {"P": "EnvSecret-999", "Q": "FileSecret-777"}
    cached = b"".join(path.read_bytes() for path in (cache / "hcl").glob("*.tree"))
    assert b"variable" in cached  # the configuration itself is cached
    assert b"EnvSecret-999" not in cached
    assert b"FileSecret-777" not in cached
