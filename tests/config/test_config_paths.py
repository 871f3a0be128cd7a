"""What `-c PATH` (and $DSTREAM_CONFIG) says when the configuration cannot be found or
read: a folder it may not list or a file in a folder it may not enter is said to be
unreadable (Permission denied, with a hint to check the path and its permissions), not
to have no .hcl files or not to exist; a missing file's hint names the file the user
gave; a folder's name is a name, never a glob pattern.

The suite may run as root, for whom every file is readable: the permission tests run
dstream without the capabilities that override file permissions (tests/ownership.py
`without_file_override`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dstream.config.loader import load_project
from dstream.errors import ConfigError, ExitCode
from tests.ownership import without_file_override
from tests.workspace import CliResult, dstream

TASK = 'task "t" {\n  input { provider_path = "p" }\n  output { provider_path = "q" }\n}\n'
PERMISSION_HINT = "hint: check the path and its permissions"


def _unprivileged(cwd: Path, *args: str) -> CliResult:
    """`dstream ARGS` run in `cwd` as a user file permissions apply to, whatever the
    developer's own DSTREAM_ settings."""
    env = {"XDG_STATE_HOME": str(cwd / "xdg-state")}
    return dstream(*args, cwd=cwd, env=env, without="DSTREAM_", prefix=without_file_override())


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """A folder holding a configuration, which no one but root may list or enter."""
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "x.hcl").write_text(TASK)
    folder.chmod(0o000)
    yield folder
    folder.chmod(0o700)


def test_a_folder_that_cannot_be_read_is_not_said_empty(tmp_path: Path, locked: Path) -> None:
    """It said `directory locked has no .hcl files`."""
    done = _unprivileged(tmp_path, "list", "-c", "locked")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.startswith("error: locked: cannot read locked: Permission denied")
    assert PERMISSION_HINT in done.stderr
    assert "no .hcl files" not in done.stderr


def test_a_file_in_a_folder_that_cannot_be_entered_is_not_said_missing(
    tmp_path: Path, locked: Path
) -> None:
    """It said `configuration file locked/x.hcl does not exist`."""
    done = _unprivileged(tmp_path, "list", "-c", "locked/x.hcl")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "cannot read locked/x.hcl: Permission denied" in done.stderr, done.stderr
    assert PERMISSION_HINT in done.stderr
    assert "does not exist" not in done.stderr


def test_json_says_the_same(tmp_path: Path, locked: Path) -> None:
    done = _unprivileged(tmp_path, "lint", "-c", "locked", "--json")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "cannot read locked: Permission denied" in done.stdout, done.stdout


def test_a_readable_folder_is_still_loaded(tmp_path: Path) -> None:
    (tmp_path / "a.hcl").write_text(TASK)
    (tmp_path / ".hidden.hcl").write_text("not = read")  # `*.hcl` never matched it
    (tmp_path / "notes.txt").write_text("not config")
    assert list(load_project(str(tmp_path), [], [], {}).tasks) == ["t"]


def test_an_empty_folder_is_still_said_empty(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project(str(tmp_path), [], [], {})
    assert str(caught.value).endswith(f"directory {tmp_path} has no .hcl files")


@pytest.mark.parametrize(
    ("given", "environ_", "hint"),
    [
        ("w1/nosuch.hcl", {}, "create w1/nosuch.hcl, or give -c/--config the path"),
        (None, {"DSTREAM_CONFIG": "w1/nosuch.hcl"}, "create w1/nosuch.hcl, or set $DSTREAM_CONFIG"),
        (None, {}, "create dstream.hcl or pass -c FILE|DIR"),
    ],
    ids=["-c", "DSTREAM_CONFIG", "default"],
)
def test_a_missing_files_hint_names_the_file_given(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    given: str | None,
    environ_: dict[str, str],
    hint: str,
) -> None:
    """`-c w1/nosuch.hcl` hinted "create dstream.hcl": a file the user did not name."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_project(given, [], [], environ_)
    assert "does not exist" in str(caught.value)
    assert caught.value.hint and caught.value.hint.startswith(hint), caught.value.hint
    if given or environ_:
        assert "dstream.hcl" not in caught.value.hint


@pytest.mark.parametrize("name", ["c[1]", "a*"])
def test_a_folder_whose_name_looks_like_a_pattern_is_read(tmp_path: Path, name: str) -> None:
    """Its name was a glob pattern: `c[1]` matched c1, not itself, and `a*` any folder
    starting with `a`."""
    (tmp_path / name).mkdir()
    (tmp_path / name / "x.hcl").write_text(TASK)
    (tmp_path / "c1").mkdir()
    (tmp_path / "c1" / "y.hcl").write_text(TASK.replace('"t"', '"other"'))
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / "z.hcl").write_text(TASK.replace('"t"', '"other"'))
    project = load_project(str(tmp_path / name), [], [], {})
    assert list(project.tasks) == ["t"]
    assert project.files == [str(tmp_path / name / "x.hcl")]
