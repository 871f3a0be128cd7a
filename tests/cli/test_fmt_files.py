"""`dstream fmt` and the files it reads and writes, like `terraform fmt`: a rewrite keeps
the file's mode, owner and group, goes through a symlink to its target, leaves no
temporary file behind, and refuses a file it may not write (a read-only file, another
user's, one in a folder it may not write to) and formats the others; a file or a folder
it cannot read is an error (exit 2, `--check` too), never passed over or said missing.

The suite may run as root, for whom every file is readable and writable: the tests of
a permission run dstream without the capabilities that override file permissions
(tests/ownership.py `without_file_override`)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from dstream.errors import ExitCode
from tests.cli.test_fmt import CANONICAL, MESSY
from tests.ownership import AS_ROOT, NOBODY, without_file_override
from tests.workspace import Workspace

Lock = Callable[[Path, int], None]  # the `lock` fixture's lock(path, mode)


@pytest.fixture
def lock() -> Iterator[Lock]:
    """`lock(path, mode)`: `path` given `mode` (e.g. 0o000), unlocked again after the
    test so that its directory can be removed."""
    locked: list[Path] = []

    def give(path: Path, mode: int) -> None:
        path.chmod(mode)
        locked.append(path)

    yield give
    for path in locked:
        path.chmod(0o700)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(*folders: Path) -> list[str]:
    return [p.name for folder in folders for p in folder.iterdir() if "tmp" in p.name]


# -- writing ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604])
def test_a_rewrite_keeps_the_files_mode_whatever_the_umask(ws: Workspace, mode: int) -> None:
    """A 0600 file holding a password became 0644 (the umask's mode of a new file)."""
    path = ws.root / "secret.hcl"
    path.write_text(MESSY)
    path.chmod(mode)
    done = ws.run("fmt", prefix=("sh", "-c", 'umask 000; exec "$@"', "sh"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "secret.hcl\n"
    assert path.read_text() == CANONICAL
    assert _mode(path) == mode
    assert _leftovers(ws.root) == []


def test_a_symlink_is_kept_and_its_target_formatted(ws: Workspace) -> None:
    """etl/dstream.hcl -> ../shared/common.hcl was replaced by a formatted copy: the
    shared file stayed as it was and no later edit of it reached etl/."""
    (ws.root / "shared").mkdir()
    (ws.root / "etl").mkdir()
    target = ws.root / "shared" / "common.hcl"
    target.write_text(MESSY)
    target.chmod(0o640)
    link = ws.root / "etl" / "dstream.hcl"
    link.symlink_to("../shared/common.hcl")
    done = ws.run("fmt", "etl")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "etl/dstream.hcl\n"
    assert link.is_symlink() and os.readlink(link) == "../shared/common.hcl"
    assert target.read_text() == CANONICAL
    assert _mode(target) == 0o640
    assert _leftovers(ws.root / "shared", ws.root / "etl") == []


@pytest.mark.parametrize("mode", [0o400, 0o444])
def test_a_read_only_file_is_refused_and_the_others_formatted(ws: Workspace, mode: int) -> None:
    """It was rewritten and made writable (root may write any file: the mode says it is
    not to be written, as vim reads it)."""
    readonly, other = ws.root / "ro.hcl", ws.root / "rw.hcl"
    readonly.write_text(MESSY)
    readonly.chmod(mode)
    other.write_text(MESSY)
    done = ws.run("fmt")
    assert done.returncode == ExitCode.FAILURE, done.stderr
    assert done.stdout == "rw.hcl\n"
    assert done.stderr.startswith("error: ro.hcl is read-only"), done.stderr
    assert "\n  hint: " in done.stderr and "Traceback" not in done.stderr
    assert "1 file(s) could not be written" in done.stderr
    assert readonly.read_text() == MESSY and _mode(readonly) == mode
    assert other.read_text() == CANONICAL
    readonly.chmod(mode)
    other.write_text(MESSY)
    as_json = ws.run("fmt", "--json")
    assert as_json.returncode == ExitCode.FAILURE, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["ok"] is False
    assert document["changed"] == ["rw.hcl"]
    [unwritable] = document["unwritable"]
    assert unwritable["file"] == "ro.hcl" and unwritable["hint"]
    assert unwritable["message"].startswith("ro.hcl is read-only")


def test_check_reads_a_read_only_file_without_complaint(ws: Workspace) -> None:
    path = ws.root / "ro.hcl"
    path.write_text(CANONICAL)
    path.chmod(0o400)
    assert ws.run("fmt", "--check").returncode == 0
    path.chmod(0o600)
    path.write_text(MESSY)
    path.chmod(0o400)
    done = ws.run("fmt", "--check")
    assert done.returncode == ExitCode.FAILURE
    assert "read-only" not in done.stderr and "1 file(s) not formatted" in done.stderr


@AS_ROOT
def test_a_rewrite_keeps_the_files_owner_and_group(ws: Workspace) -> None:
    """Run by root, fmt gave another user's file to root:root."""
    path = ws.root / "own.hcl"
    path.write_text(MESSY)
    path.chmod(0o640)
    os.chown(path, NOBODY, NOBODY)
    done = ws.run("fmt", "own.hcl")
    assert done.returncode == 0, done.stderr
    assert path.read_text() == CANONICAL
    info = path.stat()
    assert (info.st_uid, info.st_gid, _mode(path)) == (NOBODY, NOBODY, 0o640)


@AS_ROOT
def test_a_file_fmt_may_not_write_is_refused_though_its_folder_is_writable(
    ws: Workspace,
) -> None:
    """Renaming over it would have worked (the folder is writable) and replaced another
    user's file by one of one's own."""
    path = ws.root / "theirs.hcl"
    path.write_text(MESSY)
    path.chmod(0o644)
    os.chown(path, NOBODY, NOBODY)
    done = ws.run("fmt", "theirs.hcl", prefix=without_file_override())
    assert done.returncode == ExitCode.FAILURE, done.stderr
    assert done.stderr.startswith("error: cannot write theirs.hcl: Permission denied")
    assert "\n  hint: " in done.stderr
    assert path.read_text() == MESSY and path.stat().st_uid == NOBODY


def test_a_file_in_a_folder_fmt_may_not_write_is_refused(ws: Workspace, lock: Lock) -> None:
    folder = ws.root / "locked"
    folder.mkdir()
    (folder / "x.hcl").write_text(MESSY)
    (ws.root / "y.hcl").write_text(MESSY)
    lock(folder, 0o555)
    done = ws.run("fmt", "locked", "y.hcl", prefix=without_file_override())
    assert done.returncode == ExitCode.FAILURE, done.stderr
    assert done.stdout == "y.hcl\n"
    assert done.stderr.startswith("error: cannot write locked/x.hcl: cannot create"), done.stderr
    assert "Permission denied" in done.stderr and "\n  hint: " in done.stderr
    assert (folder / "x.hcl").read_text() == MESSY
    assert (ws.root / "y.hcl").read_text() == CANONICAL


# -- reading ---------------------------------------------------------------------------


def test_check_on_a_folder_it_cannot_read_fails(ws: Workspace, lock: Lock) -> None:
    """It exited 0 (`"ok": true`): a CI format gate passed on files it never read."""
    folder = ws.root / "locked"
    folder.mkdir()
    (folder / "unformatted.hcl").write_text(MESSY)
    lock(folder, 0o000)
    done = ws.run("fmt", "--check", "locked", prefix=without_file_override())
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.startswith("error: locked: cannot read locked: Permission denied")
    assert "\n  hint: " in done.stderr
    assert "1 path(s) could not be read" in done.stderr
    as_json = ws.run("fmt", "--check", "--json", "locked", prefix=without_file_override())
    assert as_json.returncode == ExitCode.USAGE
    document = json.loads(as_json.stdout)
    assert document["ok"] is False
    [diagnostic] = document["diagnostics"]
    assert diagnostic["file"] == "locked" and "Permission denied" in diagnostic["message"]


def test_recursive_names_a_subfolder_it_cannot_read(ws: Workspace, lock: Lock) -> None:
    (ws.root / "a.hcl").write_text(MESSY)
    folder = ws.root / "sub" / "locked"
    folder.mkdir(parents=True)
    (folder / "b.hcl").write_text(MESSY)
    lock(folder, 0o000)
    done = ws.run("fmt", "--recursive", ".", prefix=without_file_override())
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "error: sub/locked: cannot read sub/locked: Permission denied" in done.stderr
    assert done.stdout == "a.hcl\n"
    assert (ws.root / "a.hcl").read_text() == CANONICAL


def test_a_file_it_cannot_read_is_said_so(ws: Workspace, lock: Lock) -> None:
    """It said `1 file(s) do not parse`."""
    path = ws.root / "noread.hcl"
    path.write_text(MESSY)
    lock(path, 0o000)
    done = ws.run("fmt", "noread.hcl", prefix=without_file_override())
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "cannot read noread.hcl: Permission denied" in done.stderr
    assert "1 path(s) could not be read" in done.stderr
    assert "parse" not in done.stderr


def test_a_file_in_a_folder_it_cannot_search_is_not_missing(ws: Workspace, lock: Lock) -> None:
    """It said `no such file or directory`."""
    folder = ws.root / "locked"
    folder.mkdir()
    (folder / "x.hcl").write_text(MESSY)
    lock(folder, 0o000)
    done = ws.run("fmt", "locked/x.hcl", prefix=without_file_override())
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "cannot read locked/x.hcl: Permission denied" in done.stderr, done.stderr
    assert "no such file" not in done.stderr


def test_a_missing_path_is_still_a_usage_error(ws: Workspace) -> None:
    done = ws.run("fmt", "nosuch.hcl")
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.startswith("error: no such file or directory: nosuch.hcl")


def test_a_file_that_is_not_hcl_is_refused_and_left_as_it_is(ws: Workspace) -> None:
    """As `terraform fmt` refuses anything but its own files: `dstream fmt notes.md`
    rewrote a Markdown file that held HCL."""
    notes = ws.root / "notes.md"
    notes.write_text(MESSY)
    done = ws.run("fmt", "notes.md")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "notes.md is not an .hcl file: dstream fmt rewrites only .hcl and .tfvars" in (
        done.stderr
    )
    assert notes.read_text() == MESSY
    (ws.root / "prod.tfvars").write_text(MESSY)  # a var file is HCL: formatted
    assert ws.run("fmt", "prod.tfvars").returncode == 0
    assert (ws.root / "prod.tfvars").read_text() == CANONICAL
