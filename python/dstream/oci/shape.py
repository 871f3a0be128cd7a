"""The shape of what a registry sends, checked once, before anything reads it.

A manifest or an index comes from a registry that may be hostile or broken: every
descriptor (index entries, config, layers) must name its content by a sha256 digest,
and give its size as an integer, so that what is downloaded on its word is verified
and bounded; `layers`, `manifests`, `annotations` and `platform` must have the types
the OCI image spec gives them. What dstream names an artifact's parts by, and shows
(a platform's os, architecture and variant, a layer's title and platform annotation),
must hold no control character: a line break or an escape sequence there would print
a line that passes for one of dstream's. The rest of the package then reads the
documents without guarding each access.
"""

from __future__ import annotations

from typing import Any

from dstream.errors import obeyed
from dstream.oci.errors import ManifestError
from dstream.oci.manifest import PLATFORM_ANNOTATION, TITLE, Json, is_index
from dstream.oci.reference import is_digest

_HINT = (
    "the artifact breaks the OCI image spec: re-push it (`dstream providers push`) or ask "
    "its publisher to; dstream downloads and runs nothing of it"
)


def _show(value: Any) -> str:
    """A value in a message: short, and a container only by its kind."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _refuse(where: str, field: str, what: str, value: Any) -> ManifestError:
    return ManifestError(f"{where} is malformed: {field} {what}, not {_show(value)}", hint=_HINT)


# The annotations dstream names a layer by, and shows.
_NAMING = (TITLE, PLATFORM_ANNOTATION)


def _shown(value: str, where: str, field: str) -> None:
    if obeyed(value):
        raise _refuse(where, field, "must hold no control characters (line breaks, escapes)", value)


def _optional_string(desc: Json, key: str, where: str, field: str) -> None:
    value = desc.get(key)
    if value is not None and not isinstance(value, str):
        raise _refuse(where, f"{field}.{key}" if field else key, "must be a string", value)


def _annotations(doc: Json, where: str, field: str) -> None:
    value = doc.get("annotations")
    name = f"{field}.annotations" if field else "annotations"
    if value is None:
        return
    if not isinstance(value, dict):
        raise _refuse(where, name, "must be an object of strings", value)
    for key, item in value.items():
        if not isinstance(item, str):
            raise _refuse(where, f"{name}[{key!r}]", "must be a string", item)
        if key in _NAMING:
            _shown(item, where, f"{name}[{key!r}]")


def _platform(desc: Json, where: str, field: str) -> None:
    value = desc.get("platform")
    if value is None:
        return
    wanted = "must be an object with `os` and `architecture` strings"
    if not isinstance(value, dict):
        raise _refuse(where, f"{field}.platform", wanted, value)
    for key in ("os", "architecture"):
        if not isinstance(value.get(key), str) or not value[key]:
            raise _refuse(
                where, f"{field}.platform.{key}", "must be a non-empty string", value.get(key)
            )
    _optional_string(value, "variant", where, f"{field}.platform")
    for key in ("os", "architecture", "variant"):
        if value.get(key) is not None:
            _shown(value[key], where, f"{field}.platform.{key}")


def descriptor(desc: Any, where: str, field: str) -> Json:
    """`desc` checked as an OCI descriptor: a sha256 digest, an integer size."""
    if not isinstance(desc, dict):
        raise _refuse(where, field, "must be an object (a descriptor)", desc)
    digest = desc.get("digest")
    if not isinstance(digest, str) or not is_digest(digest):
        raise _refuse(where, f"{field}.digest", "must be sha256:<64 lowercase hex digits>", digest)
    size = desc.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _refuse(where, f"{field}.size", "must be an integer number of bytes", size)
    _optional_string(desc, "mediaType", where, field)
    _annotations(desc, where, field)
    _platform(desc, where, field)
    return desc


def _descriptors(doc: Json, key: str, where: str) -> None:
    items = doc.get(key)
    if not isinstance(items, list):
        what = "is missing" if key not in doc else "must be a list of descriptors"
        raise ManifestError(
            f"{where} is malformed: {key} {what}"
            + ("" if key not in doc else f", not {_show(items)}"),
            hint=_HINT,
        )
    for number, item in enumerate(items):
        descriptor(item, where, f"{key}[{number}]")


def check(doc: Json, media_type: str, where: str) -> bool:
    """Check a manifest or an index (`where` names it in errors); True for an index."""
    index = is_index(doc, media_type)
    _optional_string(doc, "mediaType", where, "")
    _optional_string(doc, "artifactType", where, "")
    _annotations(doc, where, "")
    if index:
        _descriptors(doc, "manifests", where)
        return True
    _descriptors(doc, "layers", where)
    if doc.get("config") is not None:
        descriptor(doc["config"], where, "config")
    return False
