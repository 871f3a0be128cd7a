"""The extraction policy member by member, on `safe_unpack` directly (the registry
round trip is in test_hostile_archives.py): what a good archive keeps, what is dropped,
and the refusals that need more than one member to show."""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

import pytest

from dstream.errors import ExitCode
from dstream.oci.archive import (
    FLOOR_BYTES,
    ArchiveError,
    LimitError,
    Limits,
    regular_files,
    safe_unpack,
)
from tests.oci import hostile
from tests.oci.hostile import Member

SOURCE = "registry.test/acme/p:1"
DEFAULTS = Limits()


def unpack(tmp_path: Path, data: bytes, limits: Limits = DEFAULTS) -> Path:
    archive = tmp_path / "layer"
    archive.write_bytes(data)
    dest = tmp_path / "dest"
    dest.mkdir()
    safe_unpack(archive, dest, source=SOURCE, limits=limits)
    return dest


def refusal(tmp_path: Path, data: bytes, limits: Limits = DEFAULTS) -> ArchiveError:
    with pytest.raises(ArchiveError) as info:
        unpack(tmp_path, data, limits)
    assert SOURCE in str(info.value) and info.value.hint
    return info.value


def test_a_clean_archive_keeps_inside_links_and_drops_unsafe_mode_bits(tmp_path: Path) -> None:
    extra = [
        Member("shared", tarfile.DIRTYPE, mode=0o1777),
        Member("shared/w", data=b"w", mode=0o666),
    ]
    dest = unpack(tmp_path, hostile.clean(extra))
    assert regular_files(dest) == ["bin/plugin", "bin/same", "docs/README", "shared/w"]
    assert os.readlink(dest / "docs/latest") == "README"
    assert os.path.samefile(dest / "bin/plugin", dest / "bin/same")
    assert stat.S_IMODE(os.stat(dest / "bin/plugin").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(dest / "shared").st_mode) == 0o755  # no sticky, no o+w
    assert stat.S_IMODE(os.stat(dest / "shared/w").st_mode) == 0o644


def test_an_uncompressed_tar_is_unpacked_too(tmp_path: Path) -> None:
    data = hostile.tar_bytes([Member("plugin", data=hostile.PLUGIN, mode=0o755)], compress=False)
    assert (unpack(tmp_path, data) / "plugin").read_bytes() == hostile.PLUGIN


def test_a_link_that_a_later_link_sends_outside_is_refused(tmp_path: Path) -> None:
    """`x -> c/../b` is inside while c does not exist; `c -> .` then makes it leave."""
    data = hostile.tar_bytes(
        [
            Member("x", tarfile.SYMTYPE, linkname="c/../b"),
            Member("c", tarfile.SYMTYPE, linkname="."),
        ]
    )
    err = refusal(tmp_path, data)
    assert "member 'x' is a link that resolves outside the archive" in str(err)


def test_a_duplicate_name_replaces_a_link_and_never_writes_through_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("keep")
    data = hostile.tar_bytes(
        [
            Member("p", tarfile.SYMTYPE, linkname="q"),
            Member("q", data=b"inside"),
            Member("p", data=b"new"),
        ]
    )
    dest = unpack(tmp_path, data)
    assert (dest / "p").read_bytes() == b"new" and not (dest / "p").is_symlink()
    assert (dest / "q").read_bytes() == b"inside" and outside.read_text() == "keep"


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([Member("g", data=b"x", mode=0o2755)], "set-group-ID (mode 2755)"),
        (
            [
                Member("l", tarfile.SYMTYPE, linkname="l2"),
                Member("h", tarfile.LNKTYPE, linkname="l"),
            ],
            "which is not a regular file earlier in the archive",
        ),
        ([Member("d", tarfile.DIRTYPE), Member("d", data=b"x")], "would replace a directory"),
        ([Member("f", data=b"x"), Member("f/g", data=b"x")], "would be written under the file 'f'"),
        ([Member(".", data=b"x")], "is a file without a name"),
        ([Member("a\\b", data=b"x")], "backslash"),
        ([Member("h", tarfile.LNKTYPE, linkname="../x")], "is a hard link to '../x', which has"),
        ([Member("n" * 300, data=b"x")], "cannot be unpacked (File name too long)"),
    ],
)
def test_refusals_name_the_member(tmp_path: Path, members: list[Member], reason: str) -> None:
    assert reason in str(refusal(tmp_path, hostile.tar_bytes(members)))


def test_the_byte_cap_counts_declared_sizes_and_the_stream(tmp_path: Path) -> None:
    small = Limits(ceiling=4096)
    assert Limits().max_bytes(1) == FLOOR_BYTES
    assert Limits(ratio=10).max_bytes(100 << 20) == 1000 << 20
    assert Limits(ceiling=5).max_bytes(1 << 30) == 5
    data = hostile.tar_bytes([Member("plugin", data=b"x" * 8192)])
    err = refusal(tmp_path, data, small)
    assert "expands to more than 4096 bytes" in str(err)
    assert "DSTREAM_ARCHIVE_MAX_BYTES" in str(err.hint)
    assert not (tmp_path / "dest" / "plugin").exists()  # refused before it was written


def test_a_bad_cap_setting_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSTREAM_ARCHIVE_MAX_ENTRIES", "-3")
    with pytest.raises(LimitError, match="DSTREAM_ARCHIVE_MAX_ENTRIES='-3'") as info:
        Limits.from_env()
    assert info.value.exit_code == ExitCode.USAGE
    monkeypatch.setenv("DSTREAM_ARCHIVE_MAX_ENTRIES", "7")
    monkeypatch.setenv("DSTREAM_ARCHIVE_MAX_RATIO", "")
    assert Limits.from_env() == Limits(entries=7)
