"""Pulling a provider_ref into the cache, and serving it from there.

A reference resolves to a manifest digest once; later runs use the cache without the
registry (offline), until asked to resolve the tag again: `refresh=True`
(`--refresh`), or a cached resolution older than `max_age` seconds (argument, or
$DSTREAM_PROVIDER_MAX_AGE). A digest-pinned reference never needs resolving again.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import IO, Optional

from dstream.oci import shape
from dstream.oci.archive import looks_like_archive, safe_unpack
from dstream.oci.cache import Cache, file_sha256, remove_tree, seal
from dstream.oci.client import Progress, RegistryClient
from dstream.oci.errors import (
    ArchiveError,
    CacheError,
    CacheMismatch,
    ManifestError,
    NoExecutable,
    OciError,
    RegistryError,
    RegistryUnreachable,
)
from dstream.oci.manifest import (
    TITLE,
    Json,
    check_layer_type,
    container_config,
    current_platform,
    descriptor_platform,
    index_platforms,
    is_metadata,
    select_from_index,
    select_layer,
)
from dstream.oci.reference import BadReference, Reference, parse_reference
from dstream.oci.transport import REACH_HINT
from dstream.oci.verify import cached_executable, checked_tree, pick_in_archive
from dstream.records import asdict, field, record

MAX_METADATA = 1024 * 1024


@record
class PullResult:
    reference: str
    digest: str  # manifest digest the reference resolved to
    platform: str
    path: str  # the executable
    size: int
    platforms: list[str]
    from_cache: bool
    metadata: Optional[Json] = None
    resolved_at: float = field(default_factory=time.time)

    def to_dict(self) -> Json:
        return asdict(self)


class TerminalProgress:
    """`pulling REF  1.2 / 3.4 MiB` on one stderr line, when stderr is a terminal."""

    def __init__(self, label: str, stream: IO[str] = sys.stderr) -> None:
        self.label = label
        self.stream = stream
        self._last = 0.0

    def __call__(self, done: int, total: Optional[int]) -> None:
        now = time.monotonic()
        if total is not None and done < total and now - self._last < 0.1:
            return
        self._last = now
        of = f" / {total / 1048576:.1f}" if total else ""
        self.stream.write(f"\r  pulling {self.label}  {done / 1048576:.1f}{of} MiB ")
        if total is not None and done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _default_progress(label: str) -> Optional[Progress]:
    """A progress line on a terminal, unless the log is JSON (every line on stderr is
    then one record, which a line drawn over itself is not)."""
    from dstream import logs

    return TerminalProgress(label) if sys.stderr.isatty() and not logs.log.writes_json else None


def _max_age(max_age: Optional[float]) -> Optional[float]:
    if max_age is not None:
        return max_age
    env = os.environ.get("DSTREAM_PROVIDER_MAX_AGE")
    if not env:
        return None
    try:
        seconds = float(env)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:  # nan, a negative number, or not a number at all
        raise OciError(
            f"DSTREAM_PROVIDER_MAX_AGE={env!r} is not a number of seconds (0 or more)",
            hint="set it to e.g. 86400 (re-resolve tags daily) or unset it",
        )
    return seconds


def _cached(cache: Cache, record: Json, ref: Reference, wanted: str) -> Optional[PullResult]:
    """The cached executable of a reference for `wanted`, verified (oci/verify.py); None
    when the cache has none. Raises CacheMismatch. What the record adds (platforms,
    metadata, when it was resolved) is read by type: a damaged one fails nothing."""
    selected = record.get("selected")
    if not isinstance(selected, dict) or wanted not in selected:
        return None
    verified = cached_executable(cache, record, ref, wanted)
    platforms, metadata = record.get("platforms"), record.get("metadata")
    resolved_at = record.get("resolved_at")
    return PullResult(
        reference=str(ref),
        digest=str(record["manifest"]),
        platform=verified.platform,
        path=str(verified.path),
        size=verified.path.stat().st_size,
        platforms=[str(p) for p in platforms] if isinstance(platforms, list) else [],
        from_cache=True,
        metadata=metadata if isinstance(metadata, dict) else None,
        # not a number: due for resolving again, as a record of long ago
        resolved_at=float(resolved_at) if isinstance(resolved_at, (int, float)) else 0.0,
    )


def _warn_mismatch(exc: CacheMismatch, doing: str) -> None:
    from dstream import logs

    logs.log.warning("%s: the cache was modified or damaged; %s", exc.reason, doing)


def _warn_stale(exc: RegistryUnreachable, key: str, cached: PullResult) -> None:
    """The registry is away when a tag was due for a re-check: its cached copy runs, and
    the log says so (a record with -f json, masked, hidden by -l error)."""
    from dstream import logs

    logs.log.warning("%s; using %s as cached (%s...)", exc.reason, key, cached.digest[:19])


def _say_refused(exc: OciError, refused: CacheMismatch, key: str) -> None:
    """Make a failed pull's hint true when the cached copy was refused: it did not run,
    and nothing runs from the cache until the reference is pulled."""
    todo = REACH_HINT if isinstance(exc, RegistryUnreachable) else exc.hint
    said = f"the cached copy of {key} failed its check and was not run ({refused.reason})"
    exc.hint = f"{said}; {todo}" if todo else said


@record
class Fetched:
    doc: Json
    media_type: str  # the document's own, else the registry's Content-Type
    digest: str
    index: bool


def _fetch_manifest(
    client: RegistryClient,
    keep: dict[str, bytes],
    ref: Reference,
    target: str,
    entry: Optional[Json] = None,
) -> Fetched:
    """A verified manifest of the shape dstream reads; `entry`, the index entry naming
    it, bounds its size. `keep` collects it for the cache, written only once the whole
    pull has been verified (a refused pull leaves nothing behind)."""
    size = None if entry is None else entry["size"]
    body, media_type, digest = client.get_manifest(ref.repository, target, size=size)
    where = f"manifest of {ref}" if entry is None else f"manifest {digest} of {ref}"
    try:
        doc = json.loads(body)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        raise RegistryError(
            f"{where} is not a JSON object: {exc}", hint="check that REF names an OCI artifact"
        ) from None
    index = shape.check(doc, media_type, where)
    keep[digest] = body
    return Fetched(doc, doc.get("mediaType") or media_type, digest, index)


def _resolve_manifest(
    client: RegistryClient, keep: dict[str, bytes], ref: Reference, wanted: str
) -> tuple[str, list[str], Json, str]:
    """(top manifest digest, platforms, image manifest for `wanted`, its digest)."""
    top = _fetch_manifest(client, keep, ref, ref.target)
    if ref.digest and top.digest != ref.digest:  # get_manifest checked it; belt and braces
        raise RegistryError(
            f"manifest digest {top.digest} does not match {ref.digest}",
            hint="the registry served another manifest than the digest names: pull again, "
            "and if it stays, the registry is not to be trusted with this reference",
        )
    if not top.index:
        return top.digest, [], top.doc, top.digest
    entry = select_from_index(top.doc, str(ref), wanted)
    image = _fetch_manifest(client, keep, ref, entry["digest"], entry)
    if image.index:
        raise ManifestError(
            f"the {wanted} entry of index {ref} is another index ({image.digest})",
            hint="point each index entry at an image manifest: dstream reads one level",
        )
    return top.digest, index_platforms(top.doc), image.doc, image.digest


def _download(
    client: RegistryClient,
    cache: Cache,
    ref: Reference,
    layer: Json,
    progress: Optional[Progress],
) -> Path:
    digest = str(layer["digest"])
    final = cache.blob_path(digest)
    # Kept only as a file of its own that hashes to its digest (a link could be
    # pointed elsewhere once checked); anything else is downloaded over.
    if final.is_file() and not final.is_symlink() and file_sha256(final) == digest:
        return final
    with cache.staging_file() as staged:
        client.fetch_blob(ref.repository, digest, staged, size=layer["size"], progress=progress)
        staged.commit(final, executable=True)
    return final


def _as_container_image(exc: OciError, image: Json, key: str) -> OciError:
    """A container image's root filesystem is no provider archive (absolute links, many
    files, several layers): say what it is and how to run it, rather than `exc` alone."""
    config = container_config(image)
    if config is None:
        return exc
    return OciError(
        f"{key} is a container image (config {config}), not a provider artifact: {exc.reason}",
        hint=f'run it as a container with `provider_image = "{key}"` instead of provider_ref '
        "(docs/oci.md), or push the provider's executable with `dstream providers push "
        f"FILE:OS/ARCH --ref {key}`",
    )


def _executable_from(blob: Path, cache: Cache, ref: Reference, layer: Json, wanted: str) -> Path:
    """The runnable file for a verified layer: the blob itself, or a file unpacked
    from it when the layer is a tar archive (an unpacked tree already there is used
    only when it holds exactly what the archive does)."""
    if not looks_like_archive(blob):
        return blob
    digest = str(layer["digest"])
    unpacked = cache.unpacked_path(digest)
    if os.path.lexists(unpacked):
        try:
            tree = checked_tree(cache, digest, str(ref))
            return unpacked / pick_in_archive(tree, str(ref), wanted)
        except CacheMismatch as exc:
            _warn_mismatch(exc, f"unpacking {ref} again")
            _discard(unpacked)
    _unpack(blob, cache, ref, unpacked)
    try:  # checked again: a concurrent pull may have put its copy in place first
        tree = checked_tree(cache, digest, str(ref))
    except CacheMismatch as exc:
        raise CacheError(
            f"cannot replace {unpacked}: {exc.reason}",
            hint="remove it, or set DSTREAM_CACHE_DIR (or --cache-dir) to a directory only "
            "you may write",
        ) from None
    chosen = unpacked / pick_in_archive(tree, str(ref), wanted)
    chosen.chmod(0o555)  # runnable, and sealed as the rest of its tree
    return chosen


def _discard(path: Path) -> None:
    """Remove a refused unpacked tree (what cannot be removed is found again, and
    refused, once unpacking has tried to put the layer's own in its place)."""
    if path.is_dir() and not path.is_symlink():
        remove_tree(path)
        return
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _unpack(blob: Path, cache: Cache, ref: Reference, unpacked: Path) -> None:
    """Unpacked in tmp/ and renamed into place only once whole and checked."""
    staged = cache.staging_dir()
    try:
        safe_unpack(blob, staged, source=str(ref))
    except BaseException as exc:
        shutil.rmtree(staged, ignore_errors=True)
        if isinstance(exc, ArchiveError):
            blob.unlink(missing_ok=True)  # refused for every reference: keep nothing
        raise
    cache.commit_dir(staged, unpacked)
    seal(unpacked)


def _metadata(client: RegistryClient, ref: Reference, meta_desc: Optional[Json]) -> Optional[Json]:
    """provider.json, when there is one of at most MAX_METADATA bytes holding a JSON
    object; one that is not is left out, and said so (the executable is still used)."""
    if not meta_desc:
        return None
    if meta_desc["size"] > MAX_METADATA:
        _left_out(ref, f"is {meta_desc['size']} bytes, more than {MAX_METADATA}")
        return None
    sink = io.BytesIO()
    client.fetch_blob(ref.repository, meta_desc["digest"], sink, size=meta_desc["size"])
    try:
        doc = json.loads(sink.getvalue())
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        _left_out(ref, "is not a JSON object")
        return None
    return doc


def _left_out(ref: Reference, why: str) -> None:
    from dstream import logs

    logs.log.warning(
        "provider.json of %s %s: its metadata is left out (name, version, config schema)",
        ref, why,
    )  # fmt: skip


def pull(
    reference: str,
    *,
    refresh: bool = False,
    max_age: Optional[float] = None,
    cache_dir: Optional[str] = None,
    insecure: bool = False,
    platform: Optional[str] = None,
    progress: Optional[Progress] = None,
    show_progress: bool = True,
) -> PullResult:
    ref = parse_reference(reference)
    key = str(ref)
    wanted = platform or current_platform()
    cache = Cache(cache_dir)
    record = cache.load_ref(key)
    refused: Optional[CacheMismatch] = None
    try:
        cached = _cached(cache, record, ref, wanted) if record else None
    except CacheMismatch as exc:
        _warn_mismatch(exc, f"pulling {key} again")
        if exc.stale is not None:
            _discard(exc.stale)
        cached, record, refused = None, None, exc  # nothing of that record is kept
    limit = _max_age(max_age)
    fresh = cached is not None and (
        ref.pinned or limit is None or time.time() - cached.resolved_at <= limit
    )
    if cached and fresh and not refresh:
        return cached
    if progress is None and show_progress:
        progress = _default_progress(f"{key} ({wanted})")
    client = RegistryClient.for_reference(ref, insecure=insecure)
    try:
        with cache.locked(exclusive=False):
            return _pull_from_registry(client, cache, ref, wanted, record, progress)
    except RegistryUnreachable as exc:
        if cached is not None and not refresh:
            # The tag is due for a re-check but the registry is away: keep running.
            _warn_stale(exc, key, cached)
            return cached
        if refused is not None:
            _say_refused(exc, refused, key)
        raise
    except OciError as exc:
        if refused is not None:
            _say_refused(exc, refused, key)
        raise


def _pull_from_registry(
    client: RegistryClient,
    cache: Cache,
    ref: Reference,
    wanted: str,
    record: Optional[Json],
    progress: Optional[Progress],
) -> PullResult:
    key = str(ref)
    cache.sweep()
    manifests: dict[str, bytes] = {}
    top, index_plats, image, image_digest = _resolve_manifest(client, manifests, ref, wanted)
    try:
        selection = select_layer(image, key, wanted)
        check_layer_type(selection.layer, key)
        blob = _download(client, cache, ref, selection.layer, progress)
        executable = _executable_from(blob, cache, ref, selection.layer, wanted)
    except (ArchiveError, NoExecutable) as exc:
        raise _as_container_image(exc, image, key) from None
    platform = wanted if selection.platform == "any" else selection.platform
    metadata = _metadata(client, ref, selection.metadata)
    platforms = index_plats or selection.platforms
    for digest, body in manifests.items():
        cache.write_bytes(cache.manifest_path(digest), body)
    now = time.time()
    new_record: Json = dict(record or {})
    kept = new_record.get("selected")
    selected = dict(kept) if isinstance(kept, dict) else {}
    if new_record.get("manifest") != top:
        selected = {}  # the tag moved: entries of the old digest no longer apply
    selected[wanted] = {
        "platform": platform,
        "layer": selection.layer["digest"],
        "title": (selection.layer.get("annotations") or {}).get(TITLE),
        "path": str(executable),
        "sha256": file_sha256(executable),
        "size": executable.stat().st_size,
    }
    new_record.update(
        reference=key,
        registry=ref.registry,
        repository=ref.repository,
        tag=ref.tag,
        pinned=ref.pinned,
        manifest=top,
        manifests=sorted({top, image_digest}),
        platforms=platforms,
        artifact_type=image.get("artifactType") or (image.get("config") or {}).get("mediaType"),
        metadata=metadata,
        metadata_digest=(selection.metadata or {}).get("digest"),
        resolved_at=now,
        selected=selected,
    )
    cache.save_ref(key, new_record)
    return PullResult(
        reference=key,
        digest=top,
        platform=platform,
        path=str(executable),
        size=executable.stat().st_size,
        platforms=platforms,
        from_cache=False,
        metadata=metadata,
        resolved_at=now,
    )


def resolve_provider_ref(
    ref: str,
    *,
    refresh: bool = False,
    max_age: Optional[float] = None,
    cache_dir: Optional[str] = None,
    insecure: bool = False,
) -> Path:
    """The cached, digest-verified executable of `ref` for this OS/arch (pulled if
    needed; served from the cache offline)."""
    return Path(
        pull(ref, refresh=refresh, max_age=max_age, cache_dir=cache_dir, insecure=insecure).path
    )


def cached_provider_ref(reference: str, *, cache_dir: Optional[str] = None) -> Optional[Path]:
    """The verified cached executable of `reference` for this OS/arch, without asking
    the registry (a tag as last resolved); None when the cache has none that checks
    out, or when `reference` does not parse (what checks references says why, with
    where it is written). For what reads a provider without running it (`dstream lint`)."""
    try:
        ref = parse_reference(reference)
    except BadReference:
        return None
    cache = Cache(cache_dir)
    record = cache.load_ref(str(ref))
    try:
        cached = _cached(cache, record, ref, current_platform()) if record else None
    except CacheMismatch:
        return None  # a run pulls it again and says why
    return Path(cached.path) if cached else None


def resolution_record(reference: str, executable: str) -> Optional[tuple[str, bytes]]:
    """The one small file that decides what `pull(reference)` serves without asking the
    registry, and its content, read once: the cache's record of what the reference last
    resolved to (a tag pulled again to another artifact rewrites it). None when what a
    pull serves depends on more than that file (the clock, for a tag that
    DSTREAM_PROVIDER_MAX_AGE makes due for resolving again), when the record no longer
    names `executable` for this platform (pulled again meanwhile), or when there is none.
    A warm start keys on it (runtime/warmplan.py)."""
    try:
        ref = parse_reference(reference)
    except BadReference:
        return None
    if not ref.pinned and _max_age(None) is not None:
        return None
    path = Cache().ref_path(str(ref))
    try:
        content = path.read_bytes()
        record = json.loads(content)
    except (OSError, ValueError):
        return None
    selected = record.get("selected") if isinstance(record, dict) else None
    entry = selected.get(current_platform()) if isinstance(selected, dict) else None
    if not isinstance(entry, dict) or entry.get("path") != executable:
        return None
    return str(path), content


def inspect(reference: str, *, insecure: bool = False) -> Json:
    """What the registry holds for a reference, without downloading executables."""
    ref = parse_reference(reference)
    client = RegistryClient.for_reference(ref, insecure=insecure)
    fetched = _fetch_manifest(client, {}, ref, ref.target)
    doc = fetched.doc
    out: Json = {
        "reference": str(ref),
        "digest": fetched.digest,
        "media_type": fetched.media_type,
        "artifact_type": doc.get("artifactType") or (doc.get("config") or {}).get("mediaType"),
        "annotations": doc.get("annotations") or {},
    }
    if fetched.index:
        out["platforms"] = [
            {"platform": descriptor_platform(e), "digest": e["digest"], "size": e["size"]}
            for e in doc["manifests"]
        ]
        return out
    layers = []
    meta_desc = None
    for desc in doc["layers"]:
        if is_metadata(desc):
            meta_desc = desc
            continue
        layers.append(
            {
                "platform": descriptor_platform(desc),
                "title": (desc.get("annotations") or {}).get(TITLE),
                "digest": desc["digest"],
                "size": desc["size"],
                "media_type": desc.get("mediaType"),
            }
        )
    out["platforms"] = layers
    out["metadata"] = _metadata(client, ref, meta_desc)
    return out
