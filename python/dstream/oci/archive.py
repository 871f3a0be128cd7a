"""Safe unpacking of a tar layer: nothing lands outside the target directory.

Members with absolute paths or `..` components, links whose target would leave the
directory, device files and FIFOs are refused before anything is written; set-id bits
are dropped. (Python 3.12's `filter="data"` does the same, but 3.9 must work too.)
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from pathlib import Path

from dstream.errors import DstreamError

GZIP_MAGIC = b"\x1f\x8b"


def looks_like_archive(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(512)
    return head.startswith(GZIP_MAGIC) or head[257:262] == b"ustar"


def _inside(name: str) -> bool:
    norm = posixpath.normpath(name)
    return not (name.startswith("/") or norm == ".." or norm.startswith("../") or "\\" in name)


def _refuse(what: str, member: str) -> DstreamError:
    return DstreamError(
        f"provider archive refused: member {member!r} {what}; nothing was unpacked",
        hint="the archive may be malicious; rebuild it with paths relative to its root",
    )


def safe_unpack(archive: Path, dest: Path) -> list[str]:
    """Unpack into `dest` (which must exist and be empty); returns regular file names."""
    try:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed by the `with` below
    except tarfile.TarError as exc:
        raise DstreamError(
            f"provider layer is not a readable tar archive: {exc}",
            hint="push the executable itself, or a valid tar / tar.gz",
        ) from None
    with tar:
        members = tar.getmembers()
        for member in members:
            if not _inside(member.name):
                raise _refuse("escapes the target directory", member.name)
            if member.issym():
                target = posixpath.join(posixpath.dirname(member.name), member.linkname)
                if member.linkname.startswith("/") or not _inside(target):
                    raise _refuse(f"is a link to {member.linkname!r} outside it", member.name)
            elif member.islnk():
                if not _inside(member.linkname):
                    raise _refuse(f"is a hard link to {member.linkname!r} outside it", member.name)
            elif not (member.isfile() or member.isdir()):
                raise _refuse("is a device, FIFO or other special file", member.name)
            member.mode &= 0o755
            member.uid = member.gid = 0
            member.uname = member.gname = ""
        # The members were checked above; 3.12+ would only repeat the checks (and warn
        # when no filter is named), 3.9-3.11 have no `filter` argument.
        extra = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
        for member in members:
            tar.extract(member, dest, set_attrs=not member.issym(), **extra)  # type: ignore[arg-type]
    root = os.fspath(dest)
    files = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            full = os.path.join(dirpath, name)
            if os.path.isfile(full) and not os.path.islink(full):
                files.append(os.path.relpath(full, root))
    return sorted(files)
