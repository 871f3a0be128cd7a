"""A file dstream keeps (a cache entry, a state record) made one another user could have
written: writable by its group or by others, or owned by another user. The tests of
what dstream trusts (the parse cache, the describe cache, the state directory) plant
one each way and check it is not believed. And dstream run as a user file permissions
apply to, for the tests of a file it may not read or write."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.services import require_service

NOBODY = 65534  # uid of nobody, gid of nogroup: never the user running the suite
# How a planted file is loosened: the file or its folder, writable by its group or others.
LOOSENINGS = [
    "file writable by its group",
    "file writable by others",
    "folder writable by its group",
    "folder writable by others",
]
# Giving a file away (chown) takes root; the tests that do are skipped without it.
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user takes root")


def target(path: Path, which: str) -> Path:
    """`path` itself when `which` starts with "file", else its folder."""
    return path if which.startswith("file") else path.parent


def loosen(path: Path, how: str) -> None:
    """Make `path` or its folder writable as `how`, one of LOOSENINGS, says."""
    where = target(path, how)
    where.chmod(where.stat().st_mode & 0o777 | (0o020 if "group" in how else 0o002))


def give_to_nobody(path: Path, which: str) -> None:
    """Give `path` ("file") or its folder ("folder") to user nobody (as root only)."""
    os.chown(target(path, which), NOBODY, -1)


def without_file_override() -> list[str]:
    """The prefix of a command run as a user file permissions apply to: as root (for
    whom every file is readable and writable), setpriv without CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH; else nothing. As root without setpriv no file can be made
    unreadable: the test fails under DSTREAM_REQUIRE_SERVICES, else it is skipped."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        require_service("setpriv (util-linux), to run dstream as root without CAP_DAC_OVERRIDE")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]
