"""A layer is read by what its media type says it is: a compressed tar that dstream
cannot unpack (zstd, an unknown `+` suffix) is refused before anything is downloaded,
never taken for the executable itself."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tests.containers import Registry
from tests.oci.rawpush import oras_style_push
from tests.workspace import dstream

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def tar_of(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.oci.image.layer.v1.tar+lz4",
        "application/vnd.docker.image.rootfs.diff.tar.zstd",
    ],
)
def test_a_layer_of_a_compression_dstream_cannot_unpack_is_refused(
    registry: Registry, tmp_path: Path, isolated_cache: Path, media_type: str
) -> None:
    # Not a real zstd stream: what matters is that the bytes are never run.
    layer = ZSTD_MAGIC + tar_of("plugin", b"#!/bin/sh\necho hi\n")
    ref = f"{registry.host}/acme/zstd:1"
    oras_style_push(registry.host, "acme/zstd", "1", {"prov.tar.zst": layer}, layer_type=media_type)
    done = dstream("providers", "pull", ref)
    assert done.returncode != 0, done.stdout
    assert media_type in done.stderr
    assert "tar+gzip" in done.stderr and "executable" in done.stderr  # the hint
    assert "Traceback" not in done.stderr
    blobs = isolated_cache / "oci" / "blobs"
    assert not [p for p in blobs.rglob("*") if p.is_file()]  # refused before downloading


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ],
)
def test_tar_and_gzip_layers_still_pull(
    registry: Registry, tmp_path: Path, media_type: str
) -> None:
    ref = f"{registry.host}/acme/plain:1"
    oras_style_push(
        registry.host,
        "acme/plain",
        "1",
        {"prov.tar": tar_of("plugin", b"#!/bin/sh\necho hi\n")},
        layer_type=media_type,
    )
    done = dstream("providers", "pull", ref)
    assert done.returncode == 0, done.stderr
