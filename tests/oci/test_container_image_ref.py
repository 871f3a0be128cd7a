"""A container image named by provider_ref is said to be one (use provider_image), not
refused as a malicious archive because its root filesystem has absolute links."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.containers import Registry
from tests.oci.rawpush import OCI_MANIFEST, put_blob, put_manifest
from tests.workspace import dstream

IMAGE_TYPES = {
    "oci": (
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        OCI_MANIFEST,
    ),
    "docker": (
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.distribution.manifest.v2+json",
    ),
}


def rootfs(*members: tuple[str, str]) -> bytes:
    """A gzipped rootfs layer: (name, link target) for links, (name, "") for files."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, target in members:
            info = tarfile.TarInfo(name)
            if target:
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
            else:
                data = b"\x7fELF not really"
                info.size, info.mode = len(data), 0o755
                tar.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue())


def push_image(host: str, repo: str, kind: str, layers: list[bytes]) -> None:
    config_type, layer_type, manifest_type = IMAGE_TYPES[kind]
    config = put_blob(host, repo, b'{"architecture":"amd64","os":"linux","rootfs":{}}')
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {**config, "mediaType": config_type},
        "layers": [{**put_blob(host, repo, data), "mediaType": layer_type} for data in layers],
    }
    put_manifest(host, repo, "1", manifest)


@pytest.mark.parametrize("kind", sorted(IMAGE_TYPES))
@pytest.mark.parametrize(
    "layers",
    [
        [rootfs(("bin/busybox", ""), ("bin/sh", "/bin/busybox"))],  # one layer, absolute link
        [rootfs(("bin/busybox", "")), rootfs(("usr/bin/env", ""))],  # a base and an app layer
        [rootfs(("bin/busybox", ""), ("usr/bin/env", ""))],  # no file is clearly the executable
    ],
    ids=["absolute-link", "two-layers", "many-files"],
)
def test_a_container_image_as_provider_ref_says_to_use_provider_image(
    registry: Registry, tmp_path: Path, kind: str, layers: list[bytes]
) -> None:
    push_image(registry.host, "acme/image", kind, layers)
    done = dstream("providers", "pull", f"{registry.host}/acme/image:1")
    assert done.returncode == 1, done.stdout
    assert "container image" in done.stderr and "provider_image" in done.stderr, done.stderr
    assert "malicious" not in done.stderr


def test_a_container_image_holding_just_a_provider_still_pulls(registry: Registry) -> None:
    """`FROM scratch` + one file named provider: a single-layer manifest, as docs/oci.md
    says, whatever its config."""
    push_image(registry.host, "acme/scratch", "oci", [rootfs(("provider", ""))])
    done = dstream("providers", "pull", f"{registry.host}/acme/scratch:1")
    assert done.returncode == 0, done.stderr
