"""The content-addressed provider cache.

Layout under `<cache root>/oci` (root: the `cache_dir` argument, $DSTREAM_CACHE_DIR, or
$XDG_CACHE_HOME/dstream, or ~/.cache/dstream):

    blobs/sha256/<hex>          a verified layer; executables are mode 0755
    unpacked/sha256/<hex>/...   a verified tar layer, unpacked
    manifests/sha256/<hex>      a verified manifest
    refs/<hash of reference>.json
                                what a reference resolved to, and when
    tmp/                        downloads in progress (same file system: rename is atomic)

Everything is written to tmp/ first and renamed into place, so a crash or two
concurrent pulls never leave a half-written executable under its final name.
References are keyed by their full text (registry, repository, tag, digest): two
repositories with the same last segment never share an entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Optional

from dstream.cache import cache_root
from dstream.oci.errors import OciError
from dstream.oci.manifest import Json

STALE_TMP_SECONDS = 3600.0


def file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            hasher.update(block)
    return "sha256:" + hasher.hexdigest()


def _hex(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
        raise OciError(f"not a sha256 digest: {digest!r}", hint="digests look like sha256:<hex>")
    return hexpart


class Cache:
    def __init__(self, root: Optional[str | os.PathLike[str]] = None) -> None:
        self.root = Path(root or cache_root()) / "oci"

    def _dir(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OciError(
                f"cannot create the provider cache directory {path}: {exc.strerror}",
                hint="set DSTREAM_CACHE_DIR to a writable directory",
            ) from None
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

    # -- atomic writes -----------------------------------------------------------------
    @contextlib.contextmanager
    def staging_file(self) -> Iterator[tuple[IO[bytes], Path]]:
        """A temporary file in tmp/, removed unless it was moved into place."""
        fd, name = tempfile.mkstemp(dir=self._dir("tmp"), prefix="dl-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh, path
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def staging_dir(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self._dir("tmp"), prefix="unpack-"))

    def commit_file(self, staged: Path, final: Path, *, executable: bool) -> None:
        """fsync, set the mode, then rename: the final name only ever holds whole files."""
        with open(staged, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(staged, 0o755 if executable else 0o644)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)

    def commit_dir(self, staged: Path, final: Path) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staged, final)
        except OSError:
            # Another pull unpacked the same digest first: its copy is as good as ours.
            shutil.rmtree(staged, ignore_errors=True)
            if not final.is_dir():
                raise

    def write_bytes(self, final: Path, data: bytes) -> None:
        with self.staging_file() as (fh, path):
            fh.write(data)
            fh.flush()
            self.commit_file(path, final, executable=False)

    # -- references --------------------------------------------------------------------
    def load_ref(self, reference: str) -> Optional[Json]:
        try:
            record = json.loads(self.ref_path(reference).read_text())
        except (FileNotFoundError, ValueError):
            return None
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

    def remove_ref(self, reference: str) -> bool:
        try:
            self.ref_path(reference).unlink()
            return True
        except FileNotFoundError:
            return False

    # -- garbage collection ------------------------------------------------------------
    def prune(self, *, everything: bool = False) -> dict[str, int]:
        """Remove what no reference uses (or everything) and stale downloads."""
        if everything:
            freed = _tree_size(self.root)
            shutil.rmtree(self.root, ignore_errors=True)
            return {"removed": 1 if freed else 0, "bytes": freed}
        keep: set[str] = set()
        for record in self.refs():
            keep.add(str(record.get("manifest")))
            keep.update(str(d) for d in record.get("manifests", []))
            for entry in (record.get("selected") or {}).values():
                keep.add(str(entry.get("layer")))
            if record.get("metadata_digest"):
                keep.add(str(record["metadata_digest"]))
        removed = freed = 0
        for kind in ("blobs", "manifests", "unpacked"):
            folder = self.root / kind / "sha256"
            for path in list(folder.iterdir()) if folder.is_dir() else []:
                if f"sha256:{path.name}" in keep:
                    continue
                freed += _tree_size(path)
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed += 1
        tmp = self.root / "tmp"
        now = time.time()
        for path in list(tmp.iterdir()) if tmp.is_dir() else []:
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > STALE_TMP_SECONDS:
                    freed += _tree_size(path)
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                    removed += 1
        return {"removed": removed, "bytes": freed}


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
