"""Hostile tar layers pulled from a real registry by `dstream providers pull` (and
`dstream run`) as real processes: each is refused with a one-line error naming the
artifact, exits non-zero, and writes nothing outside the cache; a clean pull works after.

The cache lives in `canary/cache`, so the unpack directory is canary/cache/oci/tmp/<x>:
four levels below the canary directory, which holds a 0600 `secret` that a hard link
would steal. The archives aim at the canary by relative chains and absolute paths."""

from __future__ import annotations

import os
import stat
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from dstream.oci.archive import LIMIT_VARIABLES
from tests.containers import Registry
from tests.oci import hostile
from tests.oci.rawpush import oras_style_push
from tests.workspace import dstream, dstream_json

LEVELS = 4  # canary/cache/oci/tmp/unpack-x: the canary is four directories up

Snapshot = dict[str, tuple[int, int, int]]


def snapshot(root: Path) -> Snapshot:
    """Every path under root (links not followed) with its mode, link count and size,
    leaving out the cache directory, which dstream writes to (see assert_nothing_kept)."""
    out: Snapshot = {}
    for dirpath, dirs, names in os.walk(root):
        if dirpath == str(root):
            dirs.remove("cache")
        rel = os.path.relpath(dirpath, root)
        for name in dirs + names:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.normpath(os.path.join(rel, name))] = (st.st_mode, st.st_nlink, st.st_size)
    return out


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    root = tmp_path / "canary"
    (root / "cache").mkdir(parents=True)
    secret = root / "secret"
    secret.write_text("top secret\n")
    secret.chmod(0o600)
    return root


def pull(ref: str, canary: Path, **env: str):  # type: ignore[no-untyped-def]
    for name in LIMIT_VARIABLES:
        env.setdefault(name, "")
    return dstream(
        "providers", "pull", ref, env={"DSTREAM_CACHE_DIR": str(canary / "cache"), **env}
    )


def assert_refused(done, ref: str) -> None:  # type: ignore[no-untyped-def]
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert lines and lines[0].startswith("error: "), done.stderr
    assert ref in lines[0], done.stderr
    assert len(lines) <= 2 and (len(lines) == 1 or lines[1].startswith("  hint: ")), done.stderr


def assert_nothing_kept(canary: Path, before: Snapshot, top: list[str]) -> None:
    assert snapshot(canary) == before
    assert sorted(os.listdir(canary.parent)) == top
    # What dstream keeps in its cache: anything else there came out of an archive.
    assert set(os.listdir(canary / "cache")) <= {"hcl", "oci", "describe"}  # runtime/describe.py
    oci = canary / "cache" / "oci"
    assert set(os.listdir(oci)) <= {"blobs", "manifests", "unpacked", "refs", "tmp", "lock"}
    for kind in ("unpacked", "refs", "tmp"):
        folder = oci / kind
        assert not folder.exists() or not any(folder.rglob("*")), list(folder.rglob("*"))
    # the refused layer's blob neither (blobs/sha256/ itself may stay)
    assert [p for p in (oci / "blobs").rglob("*") if not p.is_dir()] == []


def assert_clean_pull_works(registry: Registry, canary: Path) -> None:
    oras_style_push(registry.host, "hostile/clean", "1", {"provider.tgz": hostile.clean()})
    code, doc, err = dstream_json(
        "providers",
        "pull",
        f"{registry.host}/hostile/clean:1",
        env={"DSTREAM_CACHE_DIR": str(canary / "cache")},
    )
    assert code == 0, err
    assert Path(doc["path"]).read_bytes() == hostile.PLUGIN
    assert os.access(doc["path"], os.X_OK)


CORPUS: dict[str, tuple[Callable[[Path], bytes], str]] = {
    # the reproduction: a/b -> .., a/b/u1 -> .., ..., then a file through them
    "symlink-chain": (lambda c: hostile.symlink_chain(LEVELS), "through the link"),
    "hard-link-out": (lambda c: hostile.hard_link_out(LEVELS, "secret"), "through the link"),
    "hard-link-absolute": (lambda c: hostile.hard_link_absolute(str(c)), "absolute"),
    "absolute-link": (lambda c: hostile.absolute_link(str(c)), "absolute"),
    "dotdot-member": (lambda c: hostile.dotdot_member(LEVELS), "'..'"),
    "absolute-member": (lambda c: hostile.absolute_member(str(c)), "absolute"),
    "hard-link-missing": (lambda c: hostile.hard_link_missing(), "not-in-the-archive"),
    "device-node": (lambda c: hostile.device_node(), "device"),
    "fifo": (lambda c: hostile.fifo(), "FIFO"),
    "setuid-file": (lambda c: hostile.setuid_file(), "set-user-ID"),
    "truncated-gzip": (lambda c: hostile.truncated(), "truncated or corrupt"),
    "corrupt-gzip": (lambda c: hostile.corrupt(), "truncated or corrupt"),
    "gzip-bomb": (lambda c: hostile.bomb(64 << 20), "expands to more than"),
    "too-many-entries": (lambda c: hostile.many_entries(10_001), "more than 10000 entries"),
    # no file to run, for any platform: the links name none (escaped: 'x\\n\\x1b[31m')
    "looping-links": (lambda c: hostile.looping_links(), "'plugin' -> 'x\\n\\x1b[31m'"),
    "directories-only": (lambda c: hostile.directories_only(), "holds no file"),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_a_hostile_archive_is_refused_and_writes_nothing_outside(
    registry: Registry, canary: Path, case: str
) -> None:
    build, reason = CORPUS[case]
    ref = f"{registry.host}/hostile/{case}:1"
    oras_style_push(registry.host, f"hostile/{case}", "1", {"provider.tgz": build(canary)})
    before, top = snapshot(canary), sorted(os.listdir(canary.parent))

    done = pull(ref, canary)

    assert_refused(done, ref)
    assert reason in done.stderr, done.stderr
    assert_nothing_kept(canary, before, top)
    mode = os.stat(canary / "secret").st_mode
    assert stat.S_IMODE(mode) == 0o600 and os.stat(canary / "secret").st_nlink == 1
    assert_clean_pull_works(registry, canary)


def test_the_caps_are_configurable(registry: Registry, canary: Path) -> None:
    """A smaller ceiling and entry cap refuse what the defaults let through; a ratio
    of 1 refuses any archive that expands at all beyond the floor."""
    ref = f"{registry.host}/hostile/ok:1"
    oras_style_push(registry.host, "hostile/ok", "1", {"provider.tgz": hostile.many_entries(20)})
    before, top = snapshot(canary), sorted(os.listdir(canary.parent))
    few = pull(ref, canary, DSTREAM_ARCHIVE_MAX_ENTRIES="10")
    assert_refused(few, ref)
    assert "more than 10 entries" in few.stderr and "DSTREAM_ARCHIVE_MAX_ENTRIES" in few.stderr
    small = pull(ref, canary, DSTREAM_ARCHIVE_MAX_BYTES="4096")
    assert_refused(small, ref)
    assert "expands to more than 4096 bytes" in small.stderr
    assert_nothing_kept(canary, before, top)
    bad = pull(ref, canary, DSTREAM_ARCHIVE_MAX_RATIO="lots")
    assert bad.returncode == 2 and "DSTREAM_ARCHIVE_MAX_RATIO" in bad.stderr, bad.stderr
    assert pull(ref, canary).returncode == 0


def test_a_hostile_provider_ref_fails_the_run(
    registry: Registry, canary: Path, tmp_path: Path
) -> None:
    """The run path pulls too: a hostile input provider fails the run, naming it."""
    ref = f"{registry.host}/hostile/run:1"
    oras_style_push(
        registry.host, "hostile/run", "1", {"provider.tgz": hostile.symlink_chain(LEVELS)}
    )
    project = tmp_path / "project"  # the run keeps its state here
    project.mkdir()
    config = project / "dstream.hcl"
    config.write_text(
        textwrap.dedent(
            f"""
            task "t" {{
              input  {{ provider_ref = "{ref}" }}
              output {{ provider_path = "dstream-null" }}
            }}
            """
        )
    )
    before, top = snapshot(canary), sorted(os.listdir(canary.parent))
    done = dstream(
        "run",
        "t",
        "-c",
        str(config),
        cwd=project,
        env={"DSTREAM_CACHE_DIR": str(canary / "cache")},
    )
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr and ref in done.stderr, done.stderr
    assert not (canary / "evil").exists()
    assert_nothing_kept(canary, before, top)
