"""The content-addressed provider cache.

Layout under `<cache root>/oci` (root: the `cache_dir` argument, $DSTREAM_CACHE_DIR, or
$XDG_CACHE_HOME/dstream, or ~/.cache/dstream):

    blobs/sha256/<hex>          a verified layer; executables are mode 0755
    unpacked/sha256/<hex>/...   a verified tar layer, unpacked
    manifests/sha256/<hex>      a verified manifest
    refs/<hash of reference>.json
                                what a reference resolved to, and when
    tmp/                        downloads in progress (same file system: rename is atomic)
    lock                        held shared by pulls, alone by a prune (`locked`)

Everything is written to tmp/ first and renamed into place, so a crash or two
concurrent pulls never leave a half-written executable under its final name; what a
killed pull leaves in tmp/ is removed by a later pull once it is stale (a pull that is
alive writes its file all along). References are keyed by their full text (registry,
repository, tag, digest): two repositories with the same last segment never share an
entry. A failure to write or read the cache (a full disk, a file where a directory
belongs) is a CacheError naming the path and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Optional

from dstream.cache import cache_root
from dstream.oci.errors import CacheError, OciError
from dstream.oci.manifest import Json
from dstream.oci.reference import is_digest
from dstream.records import record as _record

STALE_TMP_SECONDS = 3600.0
LOCK_FILE = "lock"  # held shared by pulls, alone by a prune (Cache.locked)
_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}
_ELSEWHERE = "set DSTREAM_CACHE_DIR (or --cache-dir) to a directory"


def file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            hasher.update(block)
    return "sha256:" + hasher.hexdigest()


def _hex(digest: str) -> str:
    if not is_digest(digest):
        raise OciError(f"not a sha256 digest: {digest!r}", hint="digests look like sha256:<hex>")
    return digest.partition(":")[2]


def _in_the_way(path: Path) -> Optional[Path]:
    """The first of `path` and its parents, from the top, that exists but is not a
    directory."""
    for candidate in [*reversed(path.parents), path]:
        if os.path.lexists(candidate) and not candidate.is_dir():
            return candidate
    return None


def cache_error(path: Path, exc: OSError, doing: str) -> CacheError:
    """What went wrong with `path` of the cache, and what to do about it."""
    blocking = _in_the_way(path) if exc.errno in (errno.ENOTDIR, errno.EEXIST) else None
    if blocking is not None:
        return CacheError(
            f"the provider cache cannot use {blocking}: it is a file, not a directory",
            hint=f"remove {blocking} (dstream makes it again), or {_ELSEWHERE} elsewhere",
        )
    if exc.errno in _FULL:
        hint = f"the disk (or a quota or file size limit) is full: free space, or {_ELSEWHERE}"
        hint += " on another disk"
    elif exc.errno in _DENIED:
        hint = f"make it writable, or {_ELSEWHERE} you may write"
    else:
        hint = f"check the provider cache's directory, or {_ELSEWHERE} elsewhere"
    return CacheError(f"cannot {doing} {path}: {exc.strerror or exc}", hint=hint)


@contextlib.contextmanager
def _guard(path: Path, doing: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise cache_error(path, exc, doing) from None


class Staged:
    """A file being written in tmp/: what a download streams into (a failed write is a
    CacheError naming it), then `commit`ted under its final name."""

    def __init__(self, fh: IO[bytes], path: Path) -> None:
        self._fh = fh
        self.path = path

    def write(self, data: bytes) -> int:
        with _guard(self.path, "write the provider cache's file"):
            return self._fh.write(data)

    def commit(self, final: Path, *, executable: bool) -> None:
        """flush, fsync, set the mode, then rename: the final name only ever holds
        whole files."""
        with _guard(self.path, "write the provider cache's file"):
            self._fh.flush()
            os.fsync(self._fh.fileno())
            os.chmod(self.path, 0o755 if executable else 0o644)
        with _guard(final.parent, "create the provider cache's directory"):
            final.parent.mkdir(parents=True, exist_ok=True)
        with _guard(final, "write the provider cache's file"):
            os.replace(self.path, final)


class Cache:
    def __init__(self, root: Optional[str | os.PathLike[str]] = None) -> None:
        self.root = Path(root or cache_root()) / "oci"

    def _dir(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        with _guard(path, "create the provider cache's directory"):
            path.mkdir(parents=True, exist_ok=True)
        return path

    # -- paths -------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / _hex(digest)

    def unpacked_path(self, digest: str) -> Path:
        return self.root / "unpacked" / "sha256" / _hex(digest)

    def manifest_path(self, digest: str) -> Path:
        return self.root / "manifests" / "sha256" / _hex(digest)

    def ref_path(self, reference: str) -> Path:
        return self.root / "refs" / (hashlib.sha256(reference.encode()).hexdigest() + ".json")

    # -- who may delete ----------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, *, exclusive: bool) -> Iterator[None]:
        """Pulls hold the cache together (each commits its blobs before the record that
        names them); a prune holds it alone, so it never deletes what a pull fetched and
        has not recorded yet. A pull's files are kept by its record once it lets go."""
        import fcntl

        path = self._dir() / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno not in _DENIED:
                raise cache_error(path, exc, "open") from None
            # A cache this user may not write (a read-only image's): a pull here writes
            # nothing a prune could take, and a prune here removes nothing.
            yield
            return
        try:
            with _guard(path, "lock"):
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    # -- atomic writes -----------------------------------------------------------------
    @contextlib.contextmanager
    def staging_file(self) -> Iterator[Staged]:
        """A temporary file in tmp/, removed unless it was committed into place."""
        tmp = self._dir("tmp")
        with _guard(tmp, "create a file in"):
            fd, name = tempfile.mkstemp(dir=tmp, prefix="dl-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield Staged(fh, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def staging_dir(self) -> Path:
        tmp = self._dir("tmp")
        with _guard(tmp, "create a directory in"):
            return Path(tempfile.mkdtemp(dir=tmp, prefix="unpack-"))

    def commit_dir(self, staged: Path, final: Path) -> None:
        with _guard(final.parent, "create the provider cache's directory"):
            final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staged, final)
        except OSError as exc:
            # Another pull unpacked the same digest first: its copy is as good as ours.
            shutil.rmtree(staged, ignore_errors=True)
            if not final.is_dir():
                raise cache_error(final, exc, "move an unpacked provider to") from None

    def write_bytes(self, final: Path, data: bytes) -> None:
        with self.staging_file() as staged:
            staged.write(data)
            staged.commit(final, executable=False)

    def sweep(self) -> dict[str, int]:
        """Remove what killed pulls left in tmp/: entries untouched for
        STALE_TMP_SECONDS (a live pull writes its file all along)."""
        tmp = self.root / "tmp"
        removed = freed = 0
        now = time.time()
        for path in list(tmp.iterdir()) if tmp.is_dir() else []:
            with contextlib.suppress(OSError):
                if now - path.lstat().st_mtime > STALE_TMP_SECONDS:
                    size = _tree_size(path)
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                    removed += 1
                    freed += size
        return {"removed": removed, "bytes": freed}

    # -- references --------------------------------------------------------------------
    def load_ref(self, reference: str) -> Optional[Json]:
        path = self.ref_path(reference)
        try:
            record = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        except OSError as exc:
            raise cache_error(path, exc, "read") from None
        return record if isinstance(record, dict) else None

    def save_ref(self, reference: str, record: Json) -> None:
        self._dir("refs")
        self.write_bytes(self.ref_path(reference), json.dumps(record, indent=2).encode())

    def refs(self) -> list[Json]:
        folder = self.root / "refs"
        out = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(record, dict):
                record["_file"] = str(path)
                out.append(record)
        return sorted(out, key=lambda r: str(r.get("reference")))

    def listing(self) -> tuple[list[Listed], list[str]]:
        """The cached references as `providers list` shows them, and the files of the
        records too damaged to show (read by type: one such record hides only itself)."""
        shown: list[Listed] = []
        damaged: list[str] = []
        for record in self.refs():
            entry = _listed(record)
            if entry is None:
                damaged.append(str(record["_file"]))
            else:
                shown.append(entry)
        return shown, damaged

    def remove_ref(self, reference: str) -> bool:
        try:
            self.ref_path(reference).unlink()
            return True
        except FileNotFoundError:
            return False

    # -- garbage collection ------------------------------------------------------------
    def prune(self, *, everything: bool = False) -> Pruned:
        """Remove what no reference uses (or everything) and stale downloads."""
        with self.locked(exclusive=True):
            return self._prune(everything)

    def _entries(self) -> list[Path]:
        """The cached files a prune counts: blobs, manifests and unpacked trees."""
        return [
            path
            for kind in ("blobs", "manifests", "unpacked")
            if (self.root / kind / "sha256").is_dir()
            for path in (self.root / kind / "sha256").iterdir()
        ]

    def _prune(self, everything: bool) -> Pruned:
        if everything:
            references = sorted(str(r["reference"]) for r in self.refs() if r.get("reference"))
            tmp = self.root / "tmp"
            files = len(self._entries()) + (len(list(tmp.iterdir())) if tmp.is_dir() else 0)
            # All but the lock, which this prune holds: flock locks the open file, so a
            # new file of that name would let the next prune in beside a waiting pull.
            freed = _tree_size(self.root)
            for entry in list(self.root.iterdir()) if self.root.is_dir() else []:
                if entry.name != LOCK_FILE:
                    remove_tree(entry)
            return Pruned(references, files, freed)
        keep: set[str] = set()
        for record in self.refs():  # read by type: a damaged record keeps less, fails nothing
            keep.add(str(record.get("manifest")))
            manifests, selected = record.get("manifests"), record.get("selected")
            keep.update(str(d) for d in (manifests if isinstance(manifests, list) else []))
            for entry in selected.values() if isinstance(selected, dict) else []:
                keep.add(str(entry.get("layer")) if isinstance(entry, dict) else "")
            if record.get("metadata_digest"):
                keep.add(str(record["metadata_digest"]))
        removed = freed = 0
        for path in self._entries():
            if f"sha256:{path.name}" in keep:
                continue
            freed += _tree_size(path)
            remove_tree(path)
            removed += 1
        swept = self.sweep()
        return Pruned([], removed + swept["removed"], freed + swept["bytes"])


@_record
class Pruned:
    """What a prune removed: the references (only `everything` removes any), the
    cached files (blobs, manifests, unpacked trees, leftover downloads) and their bytes."""

    removed: list[str]
    files: int
    bytes: int


@_record
class Listed:
    """One cached reference, every field of the type it is shown as."""

    reference: str
    digest: str
    platforms: list[str]
    cached_platforms: list[str]
    size: int
    resolved_at: float
    metadata: Optional[Json]


def _listed(record: Json) -> Optional[Listed]:
    """`record` as a Listed, or None when a field is missing or of another type."""
    reference, digest = record.get("reference"), record.get("manifest")
    platforms, selected = record.get("platforms") or [], record.get("selected") or {}
    resolved_at, metadata = record.get("resolved_at"), record.get("metadata")
    entries = list(selected.values()) if isinstance(selected, dict) else [None]
    if not (
        isinstance(reference, str)
        and isinstance(digest, str)
        and isinstance(platforms, list)
        and all(isinstance(p, str) for p in platforms)
        and all(isinstance(e, dict) and _whole(e.get("size", 0)) for e in entries)
        and isinstance(resolved_at, (int, float))
        and not isinstance(resolved_at, bool)
        and (metadata is None or isinstance(metadata, dict))
    ):
        return None
    return Listed(
        reference=reference,
        digest=digest,
        platforms=platforms,
        cached_platforms=sorted(selected),
        # by path: platforms served by one file (a single-layer artifact) share it
        size=sum({str(e.get("path")): int(e.get("size") or 0) for e in entries if e}.values()),
        resolved_at=float(resolved_at),
        metadata=metadata,
    )


def _whole(value: object) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def seal(tree: Path) -> None:
    """Take the write bits off an unpacked tree (after it is in place: moving a directory
    needs its own write bit). A provider then cannot write beside itself (Python skips its
    __pycache__), which the tree's check would take for tampering at the next run. Root
    ignores the bits: docs/publishing.md says to write elsewhere."""
    for dirpath, _, names in os.walk(tree, topdown=False):
        for path in [*(os.path.join(dirpath, name) for name in names), dirpath]:
            with _guard(Path(path), "make read-only"):
                mode = os.lstat(path).st_mode
                if not stat.S_ISLNK(mode):
                    os.chmod(path, stat.S_IMODE(mode) & ~0o222)


def remove_tree(path: Path) -> None:
    """Remove `path` and what is under it, sealed trees too (their directories are made
    writable first: without write bits their entries cannot be unlinked). A link is
    removed, never followed: what it points at is not the cache's."""
    if not path.is_dir() or path.is_symlink():
        with contextlib.suppress(OSError):
            path.unlink()
        return
    for dirpath, _, _ in os.walk(path):
        with contextlib.suppress(OSError):
            os.chmod(dirpath, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def _tree_size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():  # a link's own size, not its target's
        with contextlib.suppress(OSError):
            return path.lstat().st_size
        return 0
    total = 0
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
