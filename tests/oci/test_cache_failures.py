"""The provider cache cannot be written: a file where one of its directories belongs,
a full disk, a file size limit. Each is an error naming the path and what to do (exit
1), never a crash report, and no partial download is left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oci.hostile_registry import LAYER, HostileRegistry, running
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
