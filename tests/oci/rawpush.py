"""Pushing artifacts with plain urllib, independently of dstream's client: this is "the
other client" that publishes in the original DStream's convention (what `oras push
--artifact-type application/vnd.dstream.provider plugin.linux_amd64 ...` writes) and
crafts manifests dstream itself never writes (indexes, tar layers)."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from typing import Any, Optional

ORAS_LAYER = "application/vnd.oci.image.layer.v1.tar"  # oras's default for plain files
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def put_blob(host: str, repo: str, data: bytes) -> dict[str, Any]:
    digest = digest_of(data)
    start = urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(start) as resp:
        location = resp.headers["Location"]
    if location.startswith("/"):
        location = f"http://{host}{location}"
    sep = "&" if "?" in location else "?"
    put = urllib.request.Request(
        f"{location}{sep}digest={digest}",
        data=data,
        method="PUT",
        headers={"Content-Type": "application/octet-stream"},
    )
    urllib.request.urlopen(put).close()
    return {"digest": digest, "size": len(data)}


def put_manifest(host: str, repo: str, tag: str, manifest: dict[str, Any]) -> str:
    body = json.dumps(manifest).encode()
    req = urllib.request.Request(
        f"http://{host}/v2/{repo}/manifests/{tag}",
        data=body,
        method="PUT",
        headers={"Content-Type": manifest["mediaType"]},
    )
    urllib.request.urlopen(req).close()
    return digest_of(body)


def oras_style_push(
    host: str,
    repo: str,
    tag: str,
    files: dict[str, bytes],
    *,
    legacy_config: bool = False,
    layer_type: str = ORAS_LAYER,
) -> str:
    """Files titled by name, as `oras push` does. `legacy_config`: ORAS 1.0's way of
    carrying the artifact type (as the config media type, no artifactType field)."""
    config_data = b"{}"
    config = put_blob(host, repo, config_data)
    layers = []
    for title, data in files.items():
        desc = put_blob(host, repo, data)
        layers.append(
            {
                **desc,
                "mediaType": layer_type,
                "annotations": {"org.opencontainers.image.title": title},
            }
        )
    manifest: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": layers}
    if legacy_config:
        manifest["config"] = {**config, "mediaType": "application/vnd.dstream.provider"}
    else:
        manifest["artifactType"] = "application/vnd.dstream.provider"
        manifest["config"] = {**config, "mediaType": EMPTY_CONFIG}
    return put_manifest(host, repo, tag, manifest)


def index_push(
    host: str, repo: str, tag: str, per_platform: dict[str, bytes], *, title: Optional[str] = None
) -> str:
    """An OCI image index with one single-layer manifest per `os/arch`."""
    entries = []
    for plat, data in per_platform.items():
        config = put_blob(host, repo, b"{}")
        layer = put_blob(host, repo, data)
        annotations = {"org.opencontainers.image.title": title} if title else {}
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {**config, "mediaType": EMPTY_CONFIG},
            "layers": [{**layer, "mediaType": ORAS_LAYER, "annotations": annotations}],
        }
        body = json.dumps(manifest).encode()
        digest = put_manifest(host, repo, digest_of(body), manifest)
        os_name, arch = plat.split("/")
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(body),
                "platform": {"os": os_name, "architecture": arch},
            }
        )
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    return put_manifest(host, repo, tag, index)
