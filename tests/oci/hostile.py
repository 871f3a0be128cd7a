"""Hostile provider archives, built in memory: what an attacker who controls a registry
(or a push) can put into a tar layer. Each builder returns the bytes of a tar.gz (or a
deliberately broken one); `canary` is an absolute directory the archive tries to reach,
and `levels` how many directories above the unpack directory the canary is."""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from dataclasses import dataclass
from typing import Optional

PLUGIN = b"#!/bin/sh\necho clean\n"


@dataclass(frozen=True)
class Member:
    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    linkname: str = ""
    mode: int = 0o644


def tar_bytes(members: list[Member], *, compress: bool = True) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type, info.linkname, info.mode = m.kind, m.linkname, m.mode
            if m.kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = 1, 3  # /dev/null's numbers
            info.size = len(m.data) if m.kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(m.data) if info.size else None)
    return gzip.compress(raw.getvalue(), mtime=0) if compress else raw.getvalue()


def _chain(levels: int) -> tuple[list[Member], str]:
    """`a/b -> ..`, `a/b/u1 -> ..`, ...: each link resolves one directory higher than
    the last, though each target looks harmless on its own. Returns the links and the
    path that, followed on disk, lands `levels` directories above the unpack dir."""
    links = [Member("a/b", tarfile.SYMTYPE, linkname="..")]
    path = "a/b"
    for i in range(1, levels + 1):
        path = f"{path}/u{i}"
        links.append(Member(path, tarfile.SYMTYPE, linkname=".."))
    return links, path


def symlink_chain(levels: int) -> bytes:
    """The issue's reproduction: relative links chained, then a file written through them."""
    links, path = _chain(levels)
    return tar_bytes(
        [
            *links,
            Member(f"{path}/evil", data=b"pwned\n", mode=0o755),
            Member("plugin", data=PLUGIN, mode=0o755),
        ]
    )


def hard_link_out(levels: int, secret: str) -> bytes:
    """`plugin` as a hard link to a file outside, reached through the link chain: the
    outside file would become the cached (and chmod-ed) executable."""
    links, path = _chain(levels)
    return tar_bytes([*links, Member("plugin", tarfile.LNKTYPE, linkname=f"{path}/{secret}")])


def hard_link_absolute(canary: str) -> bytes:
    return tar_bytes([Member("plugin", tarfile.LNKTYPE, linkname=f"{canary}/secret")])


def absolute_link(canary: str) -> bytes:
    return tar_bytes(
        [
            Member("out", tarfile.SYMTYPE, linkname=canary),
            Member("out/evil", data=b"pwned\n"),
            Member("plugin", data=PLUGIN, mode=0o755),
        ]
    )


def dotdot_member(levels: int) -> bytes:
    return tar_bytes(
        [Member("../" * levels + "evil", data=b"pwned\n"), Member("plugin", data=PLUGIN)]
    )


def absolute_member(canary: str) -> bytes:
    return tar_bytes([Member(f"{canary}/evil", data=b"pwned\n"), Member("plugin", data=PLUGIN)])


def hard_link_missing() -> bytes:
    return tar_bytes([Member("plugin", tarfile.LNKTYPE, linkname="not-in-the-archive")])


def looping_links() -> bytes:
    """Only links, each to the other: no file at all, the executable named (`plugin`)."""
    return tar_bytes(
        [Member("plugin", tarfile.SYMTYPE, linkname="x\n\x1b[31m"),
         Member("x\n\x1b[31m", tarfile.SYMTYPE, linkname="plugin")]
    )  # fmt: skip


def directories_only() -> bytes:
    return tar_bytes([Member("bin", tarfile.DIRTYPE, mode=0o755)])


def device_node() -> bytes:
    return tar_bytes([Member("null", tarfile.CHRTYPE), Member("plugin", data=PLUGIN, mode=0o755)])


def fifo() -> bytes:
    return tar_bytes([Member("pipe", tarfile.FIFOTYPE), Member("plugin", data=PLUGIN, mode=0o755)])


def setuid_file() -> bytes:
    return tar_bytes([Member("plugin", data=PLUGIN, mode=0o4755)])


def truncated() -> bytes:
    whole = tar_bytes([Member("plugin", data=PLUGIN * 4000, mode=0o755)])
    return whole[: len(whole) // 2]


def corrupt() -> bytes:
    """A gzip header followed by bytes that are not a deflate stream."""
    return gzip.compress(b"", mtime=0)[:10] + b"\xff" * 64


def bomb(expanded: int) -> bytes:
    """A tar.gz whose single file (`plugin`, so it would be picked) is `expanded` bytes
    of zeros: about a thousand times smaller compressed. Streamed, so the test never
    holds the expanded bytes in memory."""
    header = tarfile.TarInfo("plugin")
    header.size, header.mode = expanded, 0o755
    out = io.BytesIO()
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip wrapper
    out.write(comp.compress(header.tobuf(format=tarfile.PAX_FORMAT)))
    block = bytes(1 << 20)
    left = expanded
    while left > 0:
        out.write(comp.compress(block[: min(left, len(block))]))
        left -= len(block)
    out.write(comp.compress(bytes(-expanded % 512 + 1024)))  # padding and end blocks
    out.write(comp.flush())
    return out.getvalue()


def many_entries(count: int) -> bytes:
    """`count` entries for the directory `./` (a header flood: cheap to build and to
    unpack, so only the entry cap stops it), then a good `plugin`."""
    entry = tarfile.TarInfo("./")
    entry.type, entry.mode = tarfile.DIRTYPE, 0o755
    tail = tar_bytes([Member("plugin", data=PLUGIN, mode=0o755)], compress=False)
    return gzip.compress(entry.tobuf(format=tarfile.USTAR_FORMAT) * count + tail, mtime=0)


def clean(extra: Optional[list[Member]] = None) -> bytes:
    """A well-formed archive with an inside symlink and hard link: must unpack."""
    return tar_bytes(
        [
            Member("bin/plugin", data=PLUGIN, mode=0o755),
            Member("bin/same", tarfile.LNKTYPE, linkname="bin/plugin"),
            Member("docs/README", data=b"docs\n"),
            Member("docs/latest", tarfile.SYMTYPE, linkname="README"),
            *(extra or []),
        ]
    )
