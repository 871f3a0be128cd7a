"""Fuzz target for the layer extractor: random member lists (files, directories,
symbolic and hard links, FIFOs; names and link targets with `..`, `.`, empty and
absolute components; set-id and odd modes). Whatever the archive, `safe_unpack` either
refuses it with `ArchiveError` or unpacks it, and in both cases nothing outside the
target directory changes; an archive it accepts holds only regular files, directories
and links that resolve inside, none of them set-id.

The target is four directories deep inside a sandbox, so an escape of up to four
levels (or to an absolute path, which always points into the sandbox) is seen."""

from __future__ import annotations

import os
import stat
import tarfile
import tempfile
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from dstream.oci.archive import ArchiveError, Limits, safe_unpack
from tests.oci.hostile import Member, tar_bytes

OUT = "@OUT@"  # replaced by the sandbox's absolute `outside` directory
KINDS = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE]
COMPONENTS = st.sampled_from(["a", "b", "..", ".", "", OUT])
NAMES = st.lists(COMPONENTS, min_size=1, max_size=5).map("/".join)
MEMBERS = st.builds(
    Member,
    name=NAMES,
    kind=st.sampled_from(KINDS),
    data=st.sampled_from([b"", b"x", b"#!/bin/sh\n"]),
    linkname=NAMES,
    mode=st.sampled_from([0o644, 0o755, 0o000, 0o1777, 0o2755, 0o4755]),
)
CHAIN = [
    Member("a/b", tarfile.SYMTYPE, linkname=".."),
    Member("a/b/a", tarfile.SYMTYPE, linkname=".."),
    Member("a/b/a/b", tarfile.SYMTYPE, linkname=".."),
    Member("a/b/a/b/x", data=b"x"),
]
LATER_LINK = [  # x looks inside until c becomes a link to "."
    Member("x", tarfile.SYMTYPE, linkname="c/../b"),
    Member("c", tarfile.SYMTYPE, linkname="."),
]


def _resolve(member: Member, outside: str) -> Member:
    def fix(text: str) -> str:
        return text.replace(OUT, outside)

    return Member(fix(member.name), member.kind, member.data, fix(member.linkname), member.mode)


def _state(box: Path, dest: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for dirpath, dirs, names in os.walk(box):
        if Path(dirpath) == dest.parent:
            dirs.remove(dest.name)
        for name in dirs + names:
            st_ = os.lstat(os.path.join(dirpath, name))
            out[os.path.join(dirpath, name)] = (st_.st_mode, st_.st_nlink, st_.st_size)
    return out


def _check_accepted(dest: Path) -> None:
    real = os.path.realpath(dest)
    for dirpath, dirs, names in os.walk(dest):
        for name in dirs + names:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                assert os.path.realpath(path).startswith(real + os.sep) or (
                    os.path.realpath(path) == real
                ), path
            else:
                assert stat.S_ISREG(mode) or stat.S_ISDIR(mode), path
                assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX), path


@settings(max_examples=80, deadline=None)
@given(st.lists(MEMBERS, max_size=8))
@example(CHAIN)
@example(LATER_LINK)
@example([Member("p", data=b"x"), Member("q", tarfile.LNKTYPE, linkname="a/b/../../p")])
def test_extraction_refuses_or_stays_inside(members: list[Member]) -> None:
    with tempfile.TemporaryDirectory(prefix="dstream-fuzz-") as tmp:
        box = Path(tmp)
        dest = box / "l1" / "l2" / "l3" / "dest"
        dest.mkdir(parents=True)
        outside = box / "outside"
        outside.mkdir()
        (outside / "keep").write_text("keep")
        archive = box / "layer.tar.gz"
        archive.write_bytes(tar_bytes([_resolve(m, str(outside)) for m in members]))
        before = _state(box, dest)
        try:
            safe_unpack(archive, dest, source="fuzz/layer:1", limits=Limits(entries=64))
        except ArchiveError as exc:
            assert "fuzz/layer:1" in str(exc)
        else:
            _check_accepted(dest)
        assert _state(box, dest) == before
