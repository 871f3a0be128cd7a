"""`dstream providers push`: one executable per platform, as one OCI artifact.

The artifact is a single OCI image manifest (artifact type
application/vnd.dstream.provider) whose layers are titled in the original DStream's
convention — `plugin.<os>_<arch>[.exe]` and `provider.json` — so that the original's
`oras pull` still finds its files, while each layer also carries its `platform` for
this client. The metadata document (name, version, role, config schema, platforms) is
both the `provider.json` layer and the manifest's config blob.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional

from dstream.errors import UsageError
from dstream.oci.client import RegistryClient
from dstream.oci.manifest import (
    ARTIFACT_TYPE,
    BINARY_MEDIA_TYPE,
    CONFIG_MEDIA_TYPE,
    METADATA_MEDIA_TYPE,
    METADATA_TITLE,
    OCI_MANIFEST,
    OS_ARCH,
    PLATFORM_ANNOTATION,
    TITLE,
    WITH_VARIANT,
    Json,
    flat_name,
    not_os_arch,
    platform_of_name,
)
from dstream.oci.reference import parse_reference
from dstream.records import record


@record
class PlatformFile:
    path: Path
    platform: str  # os/arch


def parse_file_argument(arg: str) -> PlatformFile:
    """`FILE:os/arch`, or a FILE named in the original convention (plugin.linux_amd64)."""
    head, sep, tail = arg.rpartition(":")
    if sep and WITH_VARIANT.match(tail):
        raise UsageError(
            f"{arg!r}: {not_os_arch(tail)}",
            hint=f"write it as {head}:{tail.rsplit('/', 1)[0]}: dstream picks an executable "
            "by OS and architecture alone, as `pull --platform` does",
        )
    if sep and OS_ARCH.match(tail):
        path, plat = Path(head), tail
    else:
        path = Path(arg)
        _exists(path)
        found = platform_of_name(path.name)
        if not found:
            raise UsageError(
                f"cannot tell the platform of {arg!r}",
                hint=f"write it as {arg}:linux/amd64, or name the file plugin.<os>_<arch> "
                "(e.g. plugin.linux_amd64, plugin.windows_amd64.exe)",
            )
        plat = found
    _exists(path)
    if not path.is_file():
        raise UsageError(f"{path} is not a file", hint="give the path of a provider executable")
    return PlatformFile(path, plat)


def _exists(path: Path) -> None:
    """A file that is not there is said so first (its name tells no platform either)."""
    if not os.path.lexists(path):
        raise UsageError(f"{path}: no such file", hint="give the path of a provider executable")


def build_metadata(
    *,
    name: str,
    version: Optional[str],
    role: Optional[str],
    schema_file: Optional[str],
    description: Optional[str],
    platforms: list[str],
) -> dict[str, object]:
    meta: dict[str, object] = {"name": name}
    if version:
        meta["version"] = version
    if role:
        meta["type"] = role  # the original's key for input/output
        meta["role"] = role
    if description:
        meta["description"] = description
    if schema_file:
        try:
            meta["config_schema"] = json.loads(Path(schema_file).read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"cannot read the config schema {schema_file}: {exc}",
                hint="give a JSON Schema file",
            ) from None
    meta["platforms"] = platforms
    return meta


def push_provider(
    files: list[str],
    reference: str,
    *,
    name: Optional[str] = None,
    version: Optional[str] = None,
    role: Optional[str] = None,
    schema_file: Optional[str] = None,
    description: Optional[str] = None,
    insecure: bool = False,
) -> Json:
    ref = parse_reference(reference)
    if ref.digest:
        raise UsageError(
            f"cannot push to a digest reference ({reference})",
            hint="push to a tag; the digest is computed from the content",
        )
    parsed = [parse_file_argument(arg) for arg in files]
    if not parsed:
        raise UsageError("no files to push", hint="give one executable per platform")
    seen: dict[str, Path] = {}
    for item in parsed:
        if item.platform in seen:
            raise UsageError(
                f"two files for {item.platform}: {seen[item.platform]} and {item.path}",
                hint="push one file per platform",
            )
        seen[item.platform] = item.path
    tag = ref.tag or "latest"
    platforms = [p.platform for p in parsed]
    meta = build_metadata(
        name=name or ref.repository.rsplit("/", 1)[-1],
        version=version or (tag if tag != "latest" else None),
        role=role,
        schema_file=schema_file,
        description=description,
        platforms=platforms,
    )
    meta_bytes = json.dumps(meta, indent=2, sort_keys=True).encode()
    client = RegistryClient.for_reference(ref, insecure=insecure)
    layers = []
    for item in parsed:
        data = item.path.read_bytes()
        digest = client.push_blob(ref.repository, data)
        os_name, arch = item.platform.split("/")[:2]
        layers.append(
            {
                "mediaType": BINARY_MEDIA_TYPE,
                "digest": digest,
                "size": len(data),
                "annotations": {
                    TITLE: flat_name(item.platform),
                    PLATFORM_ANNOTATION: item.platform,
                },
                "platform": {"os": os_name, "architecture": arch},
            }
        )
    meta_digest = client.push_blob(ref.repository, meta_bytes)
    layers.append(
        {
            "mediaType": METADATA_MEDIA_TYPE,
            "digest": meta_digest,
            "size": len(meta_bytes),
            "annotations": {TITLE: METADATA_TITLE},
        }
    )
    annotations = {
        "org.opencontainers.image.created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "org.opencontainers.image.title": str(meta["name"]),
    }
    if meta.get("version"):
        annotations["org.opencontainers.image.version"] = str(meta["version"])
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": meta_digest, "size": len(meta_bytes)},
        "layers": layers,
        "annotations": annotations,
    }
    body = json.dumps(manifest, indent=2).encode()
    digest = client.push_manifest(ref.repository, tag, body, OCI_MANIFEST)
    return {
        "reference": f"{ref.name}:{tag}",
        "digest": digest,
        "pinned": f"{ref.name}@{digest}",
        "platforms": platforms,
        "metadata": meta,
        "size": sum(os.path.getsize(p.path) for p in parsed),
    }
