"""A file state directory another user could write to is refused, and nothing dstream
writes there goes through a link someone planted: the run lock, the temporary files of
the atomic replaces (record, input digest, run history) and the records themselves.
What dstream creates there is the user's alone (directory 0700, files 0600): the
records are the checkpoints runs resume from.

Each planted link points at a "victim" file outside the directory that must come out
of every operation unchanged (security review D3)."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dstream.errors import DstreamError
from dstream.state.file import FileStore
from tests.ownership import AS_ROOT, NOBODY
from tests.workspace import Workspace

VICTIM = "IMPORTANT data of another user\n"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    return directory


@pytest.fixture
def victim(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "victim"
    path.write_text(VICTIM)
    yield path
    assert path.read_text() == VICTIM, "a write went through a planted link"


def _plant(state: Path, name: str, target: Path) -> None:
    (state / name).symlink_to(target)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_planted_run_lock_link_is_refused_not_followed(state: Path, victim: Path) -> None:
    _plant(state, ".t.run.lock", victim)
    with pytest.raises(DstreamError) as caught, FileStore(str(state)).hold_run("t"):
        pass
    assert "symbolic link" in caught.value.reason
    assert str(state / ".t.run.lock") in caught.value.reason
    assert caught.value.hint


def test_a_planted_put_lock_link_is_refused_not_followed(state: Path, victim: Path) -> None:
    _plant(state, ".t.lock", victim)
    with pytest.raises(DstreamError, match="symbolic link"):
        FileStore(str(state)).put("t", {"n": 1})
    assert not (state / "t.json").exists()


@pytest.mark.parametrize(
    ("temporary", "write", "written"),
    [
        (".t.json.tmp", lambda s: s.put("t", {"n": 1}), "t.json"),
        (".t.input-hash.tmp", lambda s: s.set_input_hash("t", "blake2b:00"), ".t.input-hash"),
        (
            ".t.runs.jsonl.tmp",
            lambda s: s.add_run("t", {"started_at": 1.0, "ended_at": 2.0}),
            ".t.runs.jsonl",
        ),
    ],
)
def test_a_planted_temporary_file_link_is_not_written_through(
    state: Path, victim: Path, temporary: str, write: object, written: str
) -> None:
    """The link is removed, never followed: the new file is dstream's own, in place."""
    _plant(state, temporary, victim)
    write(FileStore(str(state)))  # type: ignore[operator]
    assert not (state / temporary).exists() and not (state / temporary).is_symlink()
    assert not (state / written).is_symlink()
    assert _mode(state / written) == 0o600


def test_a_planted_record_link_is_not_read_as_a_checkpoint(state: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    FileStore(str(elsewhere)).put("t", {"lsn": "planted"})
    _plant(state, "t.json", elsewhere / "t.json")
    with pytest.raises(DstreamError, match="symbolic link"):
        FileStore(str(state)).get("t")


def test_a_directory_of_another_user_is_refused(tmp_path: Path, victim: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    _own_by_another_user(shared)
    _plant(shared, ".t.run.lock", victim)
    store = FileStore(str(shared))
    for attempt in (
        lambda: store.put("t", 1),
        lambda: store.get("t"),
        lambda: store.set_input_hash("t", "blake2b:00"),
        lambda: store.tasks(),
    ):
        with pytest.raises(DstreamError) as caught:
            attempt()
        assert f"state directory {shared}" in caught.value.reason
        assert "belongs to" in caught.value.reason
        assert caught.value.hint and "state { path" in caught.value.hint
    with pytest.raises(DstreamError, match="belongs to"), store.hold_run("t"):
        pass
    assert sorted(p.name for p in shared.iterdir()) == [".t.run.lock"]


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702], ids=oct)
def test_a_directory_others_may_write_without_the_sticky_bit_is_refused(
    state: Path, mode: int
) -> None:
    if mode & 0o020:
        _give_to_a_shared_group(state)
    state.chmod(mode)
    with pytest.raises(DstreamError) as caught:
        FileStore(str(state)).put("t", 1)
    assert f"{mode:o}" in caught.value.reason and "other users" in caught.value.reason
    assert caught.value.hint and f"chmod go-w {state}" in caught.value.hint
    assert list(state.iterdir()) == []


def test_a_group_writable_directory_of_the_users_own_group_is_used(state: Path) -> None:
    """Debian, Ubuntu and Fedora give each user a group of their own, and a umask of
    002: directories the user made are group-writable, yet nobody else may write."""
    me = pwd.getpwuid(os.geteuid())
    own = grp.getgrgid(me.pw_gid)
    others = [u.pw_name for u in pwd.getpwall() if u.pw_gid == me.pw_gid and u.pw_uid != me.pw_uid]
    if others or set(own.gr_mem) - {me.pw_name}:
        pytest.skip(f"group {own.gr_name} is not the user's own")
    os.chown(state, -1, me.pw_gid)
    state.chmod(0o775)
    _assert_a_checkpoint_is_kept(state)


def test_a_sticky_directory_others_may_write_is_used(state: Path) -> None:
    """As /tmp: others may add names there, but not replace or remove dstream's files."""
    state.chmod(0o1777)
    _assert_a_checkpoint_is_kept(state)


def test_a_record_another_user_planted_in_a_sticky_directory_is_refused(state: Path) -> None:
    state.chmod(0o1777)
    (state / "t.json").write_text(
        '{"format": 1, "task": "t", "sequence": 1, "updated_at": 1.0, "checkpoint": 7}'
    )
    _own_by_another_user(state / "t.json")
    with pytest.raises(DstreamError, match="belongs to"):
        FileStore(str(state)).get("t")


def test_what_dstream_creates_is_the_users_alone(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        directory = tmp_path / "new" / "state"
        store = FileStore(str(directory))
        store.put("t", 1)
        store.set_input_hash("t", "blake2b:00")
        store.add_run("t", {"started_at": 1.0, "ended_at": 2.0})
        with store.hold_run("t"):
            pass
    finally:
        os.umask(old)
    assert _mode(directory) == 0o700
    files = {p.name: _mode(p) for p in directory.iterdir()}
    assert files == {
        name: 0o600
        for name in ("t.json", ".t.lock", ".t.run.lock", ".t.input-hash", ".t.runs.jsonl")
    }


def test_files_an_earlier_version_made_0644_become_0600(state: Path) -> None:
    store = FileStore(str(state))
    store.put("t", 1)
    with store.hold_run("t"):
        pass
    for path in state.iterdir():
        path.chmod(0o644)
    store.put("t", 2)
    with store.hold_run("t"):
        pass
    assert {p.name: _mode(p) for p in state.iterdir()} == {
        "t.json": 0o600,
        ".t.lock": 0o600,
        ".t.run.lock": 0o600,
    }


def test_run_refuses_a_state_directory_of_another_user(ws: Workspace, tmp_path: Path) -> None:
    """The review's repro: a directory another user made, with links to files dstream
    would have overwritten. One error and a hint, exit 1, nothing written."""
    shared = tmp_path / "shared-state"
    shared.mkdir()
    victims = {}
    for name in (".t.run.lock", ".t.json.tmp", ".t.runs.jsonl.tmp"):
        victims[name] = tmp_path / f"victim{name}"
        victims[name].write_text(VICTIM)
        _plant(shared, name, victims[name])
    shared.chmod(0o777)
    _own_by_another_user(shared)
    ws.counter_task("t", "dstream-null", count=3, checkpoint_every=1, state="")
    done = ws.run("run", "t", "--state-dir", str(shared))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "crash" not in done.stderr
    assert f"error: the state directory {shared} belongs to" in done.stderr, done.stderr
    assert "  hint: " in done.stderr
    assert all(path.read_text() == VICTIM for path in victims.values())
    assert sorted(p.name for p in shared.iterdir()) == sorted(victims)


def _assert_a_checkpoint_is_kept(state: Path) -> None:
    """The directory is used: a checkpoint put there is read back."""
    store = FileStore(str(state))
    store.put("t", 1)
    record = store.get("t")
    assert record is not None and record.checkpoint == 1


def _give_to_a_shared_group(path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a directory to another group needs root")
    os.chown(path, -1, NOBODY)  # nogroup: not the user's own


def _own_by_another_user(path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    os.chown(path, NOBODY, NOBODY, follow_symlinks=False)


@AS_ROOT
def test_a_file_root_left_names_its_owner_to_the_user(tmp_path: Path) -> None:
    """State a run as root left, then used by another user (the upgrade review's D3):
    opening root's 0644 lock file fails with EACCES before the owner check could speak,
    and the error said to check the directory's permissions. It names the owner now."""
    import shutil
    import tempfile

    top = Path(tempfile.mkdtemp(dir="/tmp"))  # not under tmp_path: root's 0700 folders
    try:
        top.chmod(0o755)
        state = top / "state"
        FileStore(str(state)).put("t", {"n": 1})  # as root: the directory and its files
        os.chown(state, NOBODY, NOBODY)  # the user gave themselves the directory only
        os.setegid(NOBODY)
        os.seteuid(NOBODY)
        try:
            with pytest.raises(DstreamError) as caught:
                FileStore(str(state)).put("t", {"n": 2})
        finally:
            os.seteuid(0)
            os.setegid(0)
        assert "belongs to user root, not to user nobody" in caught.value.reason
        assert caught.value.hint is not None and "chown -R" in caught.value.hint
    finally:
        shutil.rmtree(top)


def test_runs_of_a_state_directory_dstream_refuses_exits_1(ws: Workspace, tmp_path: Path) -> None:
    """`runs` reads the state store as `status` does: one it cannot read is its error,
    exit 1 (docs/cli.md, docs/security.md), not a usage error's 2."""
    shared = tmp_path / "shared-state"
    shared.mkdir()
    shared.chmod(0o777)
    ws.counter_task("t", "dstream-null", count=3, checkpoint_every=1, state="")
    done = ws.run("runs", "--state-dir", str(shared))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "crash" not in done.stderr
    assert f"chmod go-w {shared}" in done.stderr, done.stderr


def test_a_run_lock_that_cannot_be_written_is_the_state_directorys_error(
    ws: Workspace,
) -> None:
    """Where no file may grow (a full disk; here a file-size limit of 0, `prlimit`), the
    run lock's holder line failed outside every handler: exit 70, "internal error
    (OSError)". It is the state directory's write error, exit 1, before any provider."""
    ws.counter_task("t", "dstream-null", count=3, checkpoint_every=1)
    done = ws.run("run", "t", prefix=["prlimit", "--fsize=0"])
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr, done.stderr
    assert "error: could not write " in done.stderr and ".t.run.lock" in done.stderr
    assert "counter starting" not in done.stderr, done.stderr
