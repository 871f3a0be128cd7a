"""The provider cache cannot be written: a file where one of its directories belongs,
a full disk, a file size limit. Each is an error naming the path and what to do (exit
1), never a crash report, and no partial download is left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oci.hostile_registry import LAYER, HostileRegistry, running, trickle
from tests.workspace import CliResult, dstream, dstream_argv, environ

BIG = b"#!/bin/sh\n" + b"#" * (256 * 1024) + b"\necho big\n"


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    with running() as registry:
        yield registry


def assert_cache_error(done: CliResult, path: str, *hints: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: "), done.stderr
    assert path in lines[0], done.stderr
    for hint in hints:
        assert hint in lines[1], done.stderr


@pytest.mark.parametrize("kind", ["blobs", "manifests", "refs", "tmp", "."])
def test_a_file_where_a_cache_directory_belongs(
    hostile: HostileRegistry, tmp_path: Path, kind: str
) -> None:
    hostile.image("t/m", "1", [{**hostile.blob("t/m", b"#!/bin/sh\n"), "mediaType": LAYER}])
    root = tmp_path / "d"
    blocking = os.path.normpath(root / "oci" / kind)
    Path(blocking).parent.mkdir(parents=True, exist_ok=True)
    Path(blocking).write_text("in the way\n")
    done = dstream("providers", "pull", f"{hostile.host}/t/m:1", "--cache-dir", str(root))
    assert_cache_error(done, blocking, f"remove {blocking}", "DSTREAM_CACHE_DIR")


def test_a_file_size_limit_while_downloading(
    hostile: HostileRegistry, isolated_cache: Path
) -> None:
    """RLIMIT_FSIZE: the write of the download fails as on a full disk (EFBIG)."""
    hostile.image("t/m", "1", [{**hostile.blob("t/m", BIG), "mediaType": LAYER}])
    argv = ["prlimit", "--fsize=65536", *dstream_argv("providers", "pull", f"{hostile.host}/t/m:1")]
    done = subprocess.run(argv, capture_output=True, env=environ(), timeout=120, check=False)
    result = CliResult(argv, done.returncode, done.stdout, done.stderr)
    tmp = isolated_cache / "oci" / "tmp"
    assert_cache_error(result, str(tmp / "dl-"), "free space", "DSTREAM_CACHE_DIR")
    assert os.listdir(tmp) == []


def test_a_full_disk_while_downloading(hostile: HostileRegistry, tmp_path: Path) -> None:
    """ENOSPC: the cache on a 128 KiB tmpfs, mounted in a user and mount namespace of
    the dstream process only."""
    if (
        not shutil.which("unshare")
        or subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False).returncode
    ):
        pytest.skip("no user namespaces here (unshare -rm)")
    hostile.image("t/m", "1", [{**hostile.blob("t/m", BIG), "mediaType": LAYER}])
    cache = tmp_path / "small"
    cache.mkdir()
    pull = " ".join(dstream_argv("providers", "pull", f"{hostile.host}/t/m:1"))
    script = f"mount -t tmpfs -o size=128k tmpfs {cache} && exec {pull} --cache-dir {cache}"
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        capture_output=True,
        env=environ(),
        timeout=120,
        check=False,
    )
    result = CliResult([script], done.returncode, done.stdout, done.stderr)
    assert_cache_error(result, f"{cache}/oci/tmp/dl-", "disk", "free space", "DSTREAM_CACHE_DIR")


@pytest.mark.parametrize("command", [("providers", "prune"), ("providers", "rm", "other/x:1")])
def test_a_prune_while_a_pull_is_under_way(
    hostile: HostileRegistry, isolated_cache: Path, command: tuple[str, ...]
) -> None:
    """A prune (and `rm`, which prunes) keeps what no saved record names yet: the blob a
    pull has downloaded and not yet recorded was deleted, and the pull ended with an
    internal error (exit 70). The pull's metadata blob trickles, so the prune runs
    after the layer's blob is in the cache and before the pull records it."""
    from dstream.oci.manifest import METADATA_MEDIA_TYPE, METADATA_TITLE

    repo = "a/slow"
    layer = {**hostile.blob(repo, b"#!/bin/sh\necho hi\n"), "mediaType": LAYER}
    meta = b'{"name": "slow", "version": "1"}'
    described = {**hostile.blob(repo, meta), "mediaType": METADATA_MEDIA_TYPE,
                 "annotations": {"org.opencontainers.image.title": METADATA_TITLE}}  # fmt: skip
    hostile.image(repo, "1", [layer, described])
    hostile.behave(f"/v2/{repo}/blobs/{described['digest']}", trickle(meta, 0.1))
    blob = isolated_cache / "oci" / "blobs" / "sha256" / layer["digest"].split(":")[1]
    pull = subprocess.Popen(
        dstream_argv("providers", "pull", f"{hostile.host}/{repo}:1", "--json"),
        env=environ(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while not blob.exists() and pull.poll() is None:
            time.sleep(0.01)
        assert pull.poll() is None, "the pull ended before its layer was in the cache"
        pruned = dstream(*command)
        out, err = pull.communicate(timeout=60)
    finally:
        pull.kill()
    assert pull.returncode == 0, err
    assert os.path.exists(json.loads(out)["path"])
    assert pruned.returncode in (0, 2), pruned.stderr  # rm: other/x:1 is not cached
    again = dstream("providers", "pull", f"{hostile.host}/{repo}:1", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["from_cache"], again.stderr


def test_prune_all_keeps_the_lock_it_holds(hostile: HostileRegistry, isolated_cache: Path) -> None:
    """flock locks the open file: a prune --all that deleted the lock file let the next
    prune take a new one beside a pull still waiting on the old (and delete its blob)."""
    repo = "a/p"
    layer = {**hostile.blob(repo, b"#!/bin/sh\necho hi\n"), "mediaType": LAYER}
    hostile.image(repo, "1", [layer])
    assert dstream("providers", "pull", f"{hostile.host}/{repo}:1").returncode == 0
    lock = isolated_cache / "oci" / "lock"
    before = lock.stat().st_ino
    assert dstream("providers", "prune", "--all").returncode == 0
    assert sorted(p.name for p in (isolated_cache / "oci").iterdir()) == ["lock"]
    assert lock.stat().st_ino == before


def test_prune_removes_a_link_in_the_cache_and_leaves_its_target(
    isolated_cache: Path, tmp_path: Path
) -> None:
    """A cache entry that is a link (planted, or the cache's own root a link) is removed,
    never followed: its target's directories kept their modes and contents."""
    outside = tmp_path / "outside"
    (outside / "inner").mkdir(parents=True)
    outside.chmod(0o755)
    (outside / "inner" / "data").write_text("mine")
    unpacked = isolated_cache / "oci" / "unpacked" / "sha256"
    unpacked.mkdir(parents=True)
    (unpacked / ("ab" * 32)).symlink_to(outside)
    for prune in (("providers", "prune"), ("providers", "prune", "--all")):
        assert dstream(*prune).returncode == 0
    assert not (unpacked / ("ab" * 32)).exists()
    assert (outside / "inner" / "data").read_text() == "mine"
    assert outside.stat().st_mode & 0o777 == 0o755
