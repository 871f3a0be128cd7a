"""What a cached reference runs, decided by what is verified, never by the cache's word.

Whoever can write the provider cache (a shared DSTREAM_CACHE_DIR, a CI cache a pull
request can fill, a cache baked into an image) can write its ref records, which are
plain JSON. So a record decides nothing on its own: on every use the executable is
derived from the manifests (kept under their digests and hashed again when read; for a
pinned reference, the manifest of its own digest), the layer's blob must hash to the
layer's digest, and a tar layer's unpacked tree must be exactly what its archive holds.
The record must agree (same manifest, layer and path); where anything differs, the copy
is refused with a CacheMismatch naming the path and what it should have matched, and
the caller pulls the reference again.

A tag's resolution itself comes from the cache until it is re-resolved (pull.py): only
a digest-pinned reference is bound to its content whatever the cache holds.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
from pathlib import Path
from typing import Optional

from dstream.oci import shape
from dstream.oci.archive import archive_tree, looks_like_archive, unpacked_tree
from dstream.oci.cache import Cache, file_sha256
from dstream.oci.errors import ArchiveError, CacheMismatch, NoExecutable, OciError
from dstream.oci.manifest import Json, platform_of_name, select_from_index, select_layer
from dstream.oci.reference import Reference, is_digest
from dstream.records import record


@record(frozen=True)
class Verified:
    path: Path  # the executable, inside the cache
    platform: str  # the layer's platform, or `wanted` for a single-layer artifact


def cached_executable(cache: Cache, doc: Json, ref: Reference, wanted: str) -> Verified:
    """The executable the ref record `doc` names for `wanted` (it has an entry for it),
    checked against the verified manifests. Raises CacheMismatch."""
    try:
        return _derive(cache, doc, ref, wanted)
    except OSError as exc:  # unreadable: pulled again, which says what stops it
        raise CacheMismatch(f"cannot read the cached copy of {ref}: {exc}") from None


def _derive(cache: Cache, doc: Json, ref: Reference, wanted: str) -> Verified:
    key = str(ref)
    entry = doc["selected"][wanted]
    if not isinstance(entry, dict):
        raise CacheMismatch(f"the cache's record of {key} is damaged: {wanted} is no entry")
    top = str(doc.get("manifest"))
    if ref.digest and top != ref.digest:
        raise CacheMismatch(f"the cache's record of {key} names manifest {top}, not {ref.digest}")
    image, index = _manifest(cache, top)
    try:
        if index:
            image, _ = _manifest(cache, select_from_index(image, key, wanted)["digest"])
        selection = select_layer(image, key, wanted)
    except CacheMismatch:
        raise
    except OciError as exc:  # a pull found the layer there: not that manifest
        raise CacheMismatch(f"cached manifest {top} gives no layer: {exc.reason}") from None
    digest = str(selection.layer["digest"])
    if entry.get("layer") != digest:
        raise CacheMismatch(
            f"the cache's record of {key} names layer {entry.get('layer')}, "
            f"not {digest} of its manifest"
        )
    named = os.path.abspath(str(entry.get("path")))
    path = _layer_executable(cache, digest, key, wanted, named)
    if named != os.path.abspath(path):
        raise CacheMismatch(f"the cache's record of {key} names {entry.get('path')}, not {path}")
    return Verified(path, wanted if selection.platform == "any" else selection.platform)


def _manifest(cache: Cache, digest: str) -> tuple[Json, bool]:
    """A manifest kept in the cache, hashed again and shape-checked (a verified one only
    ever stands under its digest), and whether it is an index."""
    if not is_digest(digest):
        raise CacheMismatch(f"the cache's record names {digest!r}, not a manifest digest")
    path = cache.manifest_path(digest)
    _regular(path, "manifest")
    if file_sha256(path) != digest:
        raise CacheMismatch(f"cached manifest {path} does not match {digest}")
    try:
        doc = json.loads(path.read_bytes())
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        return doc, shape.check(doc, "", f"cached manifest {path}")
    except ValueError as exc:
        raise CacheMismatch(f"cached manifest {path} is not a JSON object: {exc}") from None
    except OciError as exc:
        raise CacheMismatch(exc.reason) from None


def _regular(path: Path, what: str) -> None:
    """`path` is a regular file itself, not a link to one (which could be pointed
    elsewhere once checked)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise CacheMismatch(f"cached {what} {path} is missing") from None
    if not stat.S_ISREG(mode):
        raise CacheMismatch(f"cached {what} {path} is not a regular file")


def _layer_executable(cache: Cache, digest: str, key: str, wanted: str, named: str) -> Path:
    """The blob of layer `digest`, or the file chosen from its unpacked tree; `named`
    (what the record says runs) only words the message."""
    blob = cache.blob_path(digest)
    what = "executable" if named == os.path.abspath(blob) else "layer"
    _regular(blob, what)
    if file_sha256(blob) != digest:
        raise CacheMismatch(f"cached {what} {blob} does not match {digest}")
    if not looks_like_archive(blob):
        return blob
    tree = checked_tree(cache, digest, key)
    return cache.unpacked_path(digest) / pick_in_archive(tree, key, wanted)


def checked_tree(cache: Cache, digest: str, source: str) -> dict[str, str]:
    """Layer `digest`'s unpacked tree as `archive_tree` describes it, once it holds
    exactly what the layer's verified archive does (every file's content, every link's
    target, nothing more). Raises CacheMismatch."""
    unpacked = cache.unpacked_path(digest)
    try:
        if not stat.S_ISDIR(os.lstat(unpacked).st_mode):
            raise CacheMismatch(f"cached files {unpacked} are not a directory", stale=unpacked)
    except FileNotFoundError:
        raise CacheMismatch(f"cached files {unpacked} are missing") from None
    try:
        expected = archive_tree(cache.blob_path(digest), source=source)
    except ArchiveError as exc:
        raise CacheMismatch(f"cached layer {digest} cannot be read again: {exc.reason}") from None
    found = unpacked_tree(unpacked)
    differ = sorted(n for n in {*found, *expected} if found.get(n) != expected.get(n))
    if differ:
        raise CacheMismatch(
            f"cached files in {unpacked} do not match layer {digest} "
            + _what_differs(differ, expected),
            stale=unpacked,
        )
    return expected


def _what_differs(differ: list[str], expected: dict[str, str]) -> str:
    """The names that differ; when every one was only added, also who usually adds
    them (refused all the same: a planted file looks no different)."""
    shown = ", ".join(differ[:5]) + (", ..." if len(differ) > 5 else "")
    if any(name in expected for name in differ):
        return f"({shown})"
    return (
        f"(added: {shown}; a provider that writes into its own directory does this, as "
        "Python does with __pycache__: it must write elsewhere, e.g. under TMPDIR)"
    )


# What the executable may be called inside an archive, whatever the platform.
PLAIN_NAMES = ("plugin", "provider", "plugin.exe", "provider.exe")
_MAX_HOPS = 40  # as the kernel's limit on symbolic links followed in one lookup


def _followed(tree: dict[str, str], name: str) -> Optional[str]:
    """The regular file `name` is or leads to through links inside the archive, None
    for anything else (a directory, a link that leads nowhere or loops). Unpacking
    already refused every link that leaves the archive."""
    for _ in range(_MAX_HOPS):
        what = tree.get(name, "")
        if what.startswith("file "):
            return name
        if not what.startswith("link "):
            return None
        target = posixpath.join(posixpath.dirname(name), what[len("link ") :])
        name = posixpath.normpath(target)
    return None


def pick_in_archive(tree: dict[str, str], ref: str, wanted: str) -> str:
    """Which regular file of an archive (as `archive_tree` describes it) is the
    executable for `wanted`: one named for it, or `plugin` / `provider`, each of which
    may be a link to the file inside the archive; or the only file."""
    files = sorted(n for n, what in tree.items() if what.startswith("file "))
    named = {_followed(tree, n) for n in tree if platform_of_name(posixpath.basename(n)) == wanted}
    named.discard(None)
    if len(named) == 1:
        return str(named.pop())
    plain = {_followed(tree, n) for n in tree if posixpath.basename(n) in PLAIN_NAMES}
    plain.discard(None)
    if len(plain) == 1:
        return str(plain.pop())
    if len(files) == 1:
        return files[0]
    names = ", ".join(f"`{n}`" for n in PLAIN_NAMES)
    raise NoExecutable(
        f"provider {ref} is an archive of {len(files)} files and none is clearly the "
        f"executable for {wanted}: {', '.join(files[:10])}",
        hint=f"name the executable plugin.{wanted.replace('/', '_')} or one of {names} "
        "inside the archive (a link to it inside the archive will do)",
    )
