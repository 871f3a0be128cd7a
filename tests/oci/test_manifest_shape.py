"""What a hostile registry can put in a manifest or an index: descriptors whose digest
is not a digest, whose size is missing or not a number, blobs longer than their size,
and documents of the wrong shape. Each is refused as an OCI error (exit 1) naming the
reference and the field, before anything is downloaded on its word."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

from dstream.oci import inspect
from dstream.oci.client import RegistryClient, RegistryError
from dstream.oci.errors import ManifestError
from dstream.oci.manifest import current_platform
from tests.oci.hostile_registry import (
    LAYER,
    OCI_INDEX,
    OCI_MANIFEST,
    TITLE,
    HostileRegistry,
    digest_of,
    endless,
    reset,
    running,
    trickle,
)
from tests.workspace import CliResult, dstream, dstream_json

PLATFORM = current_platform()
OS, ARCH = PLATFORM.split("/")
GOOD = b"#!/bin/sh\necho GOOD\n"
EVIL = b"#!/bin/sh\necho EVIL\n"


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    with running() as registry:
        yield registry


def assert_refused(done: CliResult, *words: str) -> None:
    """Exit 1 with one error line (and its hint) naming every word: no crash report."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert lines and lines[0].startswith("error: "), done.stderr
    assert len(lines) == 2 and lines[1].startswith("  hint: "), done.stderr
    for word in words:
        assert word in lines[0], (word, done.stderr)


def assert_inspect_refused(ref: str, *words: str) -> None:
    """`dstream providers inspect` in this process (the CLI's exit code for an OciError
    is shown by the pull tests): a ManifestError naming every word."""
    with pytest.raises(ManifestError) as info:
        inspect(ref)
    for word in words:
        assert word in info.value.reason, (word, info.value.reason)
    assert info.value.hint


def blob_requests(registry: HostileRegistry) -> list[str]:
    return [path for path in registry.paths() if "/blobs/" in path]


def assert_refused_before_any_blob(hostile: HostileRegistry, ref: str, field: str) -> None:
    """pull and inspect both refuse `ref` naming `field`, and no blob was asked for."""
    assert_refused(dstream("providers", "pull", ref), ref, field)
    assert_inspect_refused(ref, ref, field)
    assert blob_requests(hostile) == []


def image_of(registry: HostileRegistry, repo: str, data: bytes) -> dict[str, Any]:
    """An image manifest holding `data` as its one layer, stored by digest only."""
    layer = {**registry.blob(repo, data), "mediaType": LAYER}
    config = registry.blob(repo, b"{}")
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {**config, "mediaType": "application/vnd.oci.empty.v1+json"},
        "layers": [layer],
    }


def index_entry(digest: str, size: int) -> dict[str, Any]:
    return {
        "mediaType": OCI_MANIFEST,
        "digest": digest,
        "size": size,
        "platform": {"os": OS, "architecture": ARCH},
    }


# -- 1: an index entry must name its manifest by digest ---------------------------------


def test_an_index_entry_naming_a_tag_cannot_swap_a_pinned_executable(
    hostile: HostileRegistry,
) -> None:
    """The entry names the tag "inner": the pinned index would run whatever that tag
    names later. Refused before the tag is even asked for."""
    inner = json.dumps(image_of(hostile, "t/idx", GOOD)).encode()
    hostile.manifest("t/idx", "inner", inner)
    pin = hostile.manifest(
        "t/idx", "outer", {"schemaVersion": 2, "mediaType": OCI_INDEX,
                           "manifests": [index_entry("inner", len(inner))]},
    )  # fmt: skip
    ref = f"{hostile.host}/t/idx@{pin}"
    done = dstream("providers", "pull", "--refresh", ref)
    assert_refused(done, ref, "manifests[0].digest", "'inner'")
    assert not any(p.endswith("/manifests/inner") for p in hostile.paths()), hostile.paths()


def test_an_index_entry_digest_is_never_sent_as_a_path(hostile: HostileRegistry) -> None:
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [index_entry("../../t/idx/manifests/inner", 10)],
    }
    hostile.manifest("t/idx", "dotdot", index)
    done = dstream("providers", "pull", f"{hostile.host}/t/idx:dotdot")
    assert_refused(done, f"{hostile.host}/t/idx:dotdot", "manifests[0].digest")
    assert not any(".." in p for p in hostile.paths()), hostile.paths()


def test_an_index_entry_whose_size_is_not_its_manifests_is_refused(
    hostile: HostileRegistry,
) -> None:
    body = json.dumps(image_of(hostile, "t/idx", GOOD)).encode()
    digest = hostile.manifest("t/idx", "inner", body)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [index_entry(digest, len(body) - 1)],
    }
    hostile.manifest("t/idx", "short", index)
    done = dstream("providers", "pull", f"{hostile.host}/t/idx:short")
    assert_refused(done, "t/idx", f"{len(body) - 1} bytes")
    assert blob_requests(hostile) == []


def test_a_well_formed_index_still_pulls(hostile: HostileRegistry) -> None:
    body = json.dumps(image_of(hostile, "t/idx", GOOD)).encode()
    digest = hostile.manifest("t/idx", "inner", body)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [index_entry(digest, len(body))],
    }
    pin = hostile.manifest("t/idx", "good", index)
    code, doc, err = dstream_json("providers", "pull", f"{hostile.host}/t/idx@{pin}")
    assert code == 0, err
    assert Path(doc["path"]).read_bytes() == GOOD


@pytest.mark.parametrize(
    ("body", "size", "why"),
    [
        (b"not json", None, "is not a JSON object"),
        (b'["a list"]', None, "is not a JSON object"),
        (b"{}", 2 * 1024 * 1024, "is 2097152 bytes, more than 1048576"),
    ],
    ids=["not-json", "not-an-object", "too-large"],
)
def test_a_provider_json_that_is_not_used_is_said_so(
    hostile: HostileRegistry, body: bytes, size: Optional[int], why: str
) -> None:
    """The pull still gives the executable; the metadata it leaves out is named."""
    exe = {**hostile.blob("t/m", GOOD), "mediaType": LAYER}
    meta = {
        **hostile.blob("t/m", body),
        "mediaType": "application/json",
        "annotations": {TITLE: "provider.json"},
    }
    if size is not None:
        meta["size"] = size  # never read: it is over the limit
    hostile.image("t/m", "1", [exe, meta])
    code, doc, err = dstream_json("providers", "pull", f"{hostile.host}/t/m:1")
    assert code == 0, err
    assert doc["metadata"] is None
    assert f"provider.json of {hostile.host}/t/m:1 {why}: its metadata is left out" in err


# -- 2: every descriptor has an integer size, and a blob is cut at size + 1 --------------


@pytest.mark.parametrize(
    "size",
    ["missing", "18", 18.0, True, -1, None],
    ids=["missing", "string", "float", "bool", "negative", "null"],
)
@pytest.mark.parametrize("which", ["executable", "provider.json"])
def test_a_descriptor_without_an_integer_size_is_refused_before_any_download(
    hostile: HostileRegistry, size: object, which: str
) -> None:
    exe = {**hostile.blob("t/m", GOOD), "mediaType": LAYER}
    meta = {
        **hostile.blob("t/m", b'{"name":"x"}'),
        "mediaType": "application/json",
        "annotations": {TITLE: "provider.json"},
    }
    bad = exe if which == "executable" else meta
    if size == "missing":
        del bad["size"]
    else:
        bad["size"] = size
    hostile.image("t/m", "1", [exe, meta])
    ref = f"{hostile.host}/t/m:1"
    field = "layers[0].size" if which == "executable" else "layers[1].size"
    assert_refused_before_any_blob(hostile, ref, field)


def test_a_blob_longer_than_its_size_is_cut_at_size_plus_one(hostile: HostileRegistry) -> None:
    """The blob endpoint streams zeros forever; the descriptor says 100 bytes."""
    digest = digest_of(b"x" * 100)
    hostile.behave(f"/v2/t/inf/blobs/{digest}", endless)
    sink = io.BytesIO()
    client = RegistryClient(hostile.host)
    with pytest.raises(RegistryError, match="failed verification"):
        client.fetch_blob("t/inf", digest, sink, size=100)
    assert len(sink.getvalue()) <= 101


def test_an_endless_layer_fails_verification_and_keeps_nothing(
    hostile: HostileRegistry, isolated_cache: Path
) -> None:
    digest = digest_of(GOOD)
    hostile.behave(f"/v2/t/inf/blobs/{digest}", endless)
    hostile.image("t/inf", "1", [{"digest": digest, "size": len(GOOD), "mediaType": LAYER}])
    done = dstream("providers", "pull", f"{hostile.host}/t/inf:1")
    assert_refused(done, "failed verification")
    assert os.listdir(isolated_cache / "oci" / "tmp") == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("what", ["blob", "manifest"])
def test_a_registry_that_trickles_is_given_up_on(hostile: HostileRegistry, what: str) -> None:
    """One byte every 0.1 s: each read gets a byte long before the client's timeout, so
    only a bound on the whole download's pace ends it (curl's --speed-limit). The
    client's timeout is that bound's window; here half a second instead of a minute."""
    data = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "pad": "x" * 300}).encode()
    digest = digest_of(data)
    path = f"/v2/t/slow/{what}s/{digest}"
    hostile.behave(path, trickle(data, 0.1))
    client = RegistryClient(hostile.host, timeout=0.5)
    with pytest.raises(RegistryError) as info:
        if what == "blob":
            client.fetch_blob("t/slow", digest, io.BytesIO(), size=len(data))
        else:
            client.get_manifest("t/slow", digest)
    message = str(info.value)
    assert "slower than 1 KiB/s" in message and hostile.host in message, message
    assert path in message and "giving up" in message, message


def test_a_connection_reset_in_the_middle_of_a_blob_is_a_registry_error(
    hostile: HostileRegistry, isolated_cache: Path
) -> None:
    digest = digest_of(bytes(100000))
    hostile.behave(f"/v2/t/rst/blobs/{digest}", reset)
    hostile.image("t/rst", "1", [{"digest": digest, "size": 100000, "mediaType": LAYER}])
    done = dstream("providers", "pull", f"{hostile.host}/t/rst:1")
    assert_refused(done, hostile.host, "broke while reading")
    assert os.listdir(isolated_cache / "oci" / "tmp") == []


def test_stale_partial_downloads_are_removed_by_the_next_pull(
    hostile: HostileRegistry, isolated_cache: Path
) -> None:
    """What a SIGKILL-ed pull leaves in tmp/: removed once stale; a fresh one may be a
    pull in progress in another process and stays."""
    tmp = isolated_cache / "oci" / "tmp"
    tmp.mkdir(parents=True)
    stale, fresh = tmp / "dl-stale", tmp / "dl-fresh"
    stale.write_bytes(b"\0" * 4096)
    fresh.write_bytes(b"\0" * 4096)
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    hostile.image("t/m", "1", [{**hostile.blob("t/m", GOOD), "mediaType": LAYER}])
    code, _, err = dstream_json("providers", "pull", f"{hostile.host}/t/m:1")
    assert code == 0, err
    assert sorted(os.listdir(tmp)) == ["dl-fresh"]


# -- 6: the shape of a manifest is checked in one place ----------------------------------

EXE = {"digest": digest_of(GOOD), "size": len(GOOD), "mediaType": LAYER}
MALFORMED_IMAGES: list[tuple[str, Any, str]] = [
    ("layers-object", {"a": 1}, "layers"),
    ("layers-number", 5, "layers"),
    ("layer-string", ["sha256:abc"], "layers[0]"),
    ("layer-without-digest", [{"size": 3, "mediaType": LAYER}], "layers[0].digest"),
    ("layer-short-digest", [{**EXE, "digest": "sha256:abc"}], "layers[0].digest"),
    ("layer-md5-digest", [{**EXE, "digest": "md5:" + "0" * 32}], "layers[0].digest"),
    ("annotations-list", [{**EXE, "annotations": ["a"]}], "layers[0].annotations"),
    ("title-number", [{**EXE, "annotations": {TITLE: 7}}], "layers[0].annotations"),
    ("platform-string", [{**EXE, "platform": "linux/amd64"}], "layers[0].platform"),
    ("platform-numbers", [{**EXE, "platform": {"os": 1, "architecture": ["x"]}}],
     "layers[0].platform"),
    ("media-type-number", [{**EXE, "mediaType": 3}], "layers[0].mediaType"),
]  # fmt: skip


MALFORMED_DOCUMENTS: list[tuple[str, Any, str]] = [
    ("config-digest", {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [EXE],
                       "config": {"digest": "nope", "size": 2, "mediaType": "x"}}, "config.digest"),
    ("config-string", {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [EXE],
                       "config": "x"}, "config"),
    ("top-annotations-list", {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [EXE],
                              "annotations": ["a"]}, "annotations"),
    ("no-layers", {"schemaVersion": 2, "mediaType": OCI_MANIFEST}, "layers"),
    ("index-strings", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": ["x"]},
     "manifests[0]"),
    ("index-object", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": {"a": 1}},
     "manifests"),
    ("index-entry-without-digest", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"size": 10, "platform": {"os": OS, "architecture": ARCH}}]}, "manifests[0].digest"),
    ("index-entry-platform-string", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"digest": digest_of(b"m"), "size": 1, "platform": PLATFORM}]}, "manifests[0].platform"),
]  # fmt: skip


# Each case served as an image manifest of those layers, or as that whole document.
MALFORMED = [(f"image-{name}", "image", layers, field) for name, layers, field in MALFORMED_IMAGES]
MALFORMED += [(name, "manifest", doc, field) for name, doc, field in MALFORMED_DOCUMENTS]


@pytest.mark.parametrize(
    ("serve", "payload", "field"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_a_malformed_manifest_is_an_oci_error(
    hostile: HostileRegistry, serve: str, payload: Any, field: str
) -> None:
    hostile.blob("t/m", GOOD)
    getattr(hostile, serve)("t/m", "bad", payload)
    ref = f"{hostile.host}/t/m:bad"
    assert_refused_before_any_blob(hostile, ref, field)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": ["sha256:abc"]}, "layers[0]"),
        ({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": {"a": 1}}, "manifests"),
    ],
)
def test_inspect_refuses_a_malformed_document_without_a_crash(
    hostile: HostileRegistry, doc: Any, field: str
) -> None:
    hostile.manifest("t/m", "bad", doc)
    ref = f"{hostile.host}/t/m:bad"
    assert_refused(dstream("providers", "inspect", ref), ref, field)


def test_an_index_entry_that_is_itself_an_index_is_refused(hostile: HostileRegistry) -> None:
    inner = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()
    digest = hostile.manifest("t/m", "inner", inner)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [index_entry(digest, len(inner))],
    }
    hostile.manifest("t/m", "nested", index)
    done = dstream("providers", "pull", f"{hostile.host}/t/m:nested")
    assert_refused(done, f"{hostile.host}/t/m:nested", "index")
