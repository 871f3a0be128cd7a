"""Which layer of an artifact is the executable for this machine.

Three shapes are read:
- an OCI image index / Docker manifest list: one manifest per platform;
- an image manifest whose layers carry their platform (the descriptor's `platform`
  field, as `dstream providers push` writes it);
- the original DStream's flat convention: layers titled `plugin.<os>_<arch>[.exe]`
  (Go names) or `provider.<rid>[.exe]` (.NET runtime identifiers, e.g. linux-x64),
  artifact type application/vnd.dstream.provider, plus a `provider.json` metadata layer.
"""

from __future__ import annotations

import platform as _platform
import re
import sys
from typing import Any, Optional

from dstream.oci.errors import NoExecutable, OciError
from dstream.records import record

# A parsed OCI document (manifest, index, descriptor, cache record).
Json = dict[str, Any]  # Any: read by the keys the OCI spec defines


ARTIFACT_TYPE = "application/vnd.dstream.provider"
BINARY_MEDIA_TYPE = "application/vnd.dstream.provider.binary.v1"
METADATA_MEDIA_TYPE = "application/vnd.dstream.provider.metadata.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.dstream.provider.config.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
TITLE = "org.opencontainers.image.title"
PLATFORM_ANNOTATION = "io.dstream.platform"
METADATA_TITLE = "provider.json"
# The config of a container image (OCI, Docker): its layers are a root filesystem.
CONTAINER_CONFIG_TYPES = (
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
)

FLAT_NAME = re.compile(r"^plugin\.(?P<os>[a-z0-9]+)_(?P<arch>[a-z0-9]+)(?:\.exe)?$")
RID_NAME = re.compile(r"^provider\.(?P<os>linux|osx|win)-(?P<arch>x64|arm64|x86|arm)(?:\.exe)?$")
_RID_OS = {"linux": "linux", "osx": "darwin", "win": "windows"}
_RID_ARCH = {"x64": "amd64", "arm64": "arm64", "x86": "386", "arm": "arm"}
_MACHINE_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "386",
    "i686": "386",
    "x86": "386",
    "armv7l": "arm",
    "armv6l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


# A tar layer's media type, and how it is compressed: `.tar`, `.tar+gzip` (OCI),
# `.tar.gzip` (Docker); anything else after `.tar` (zstd, an encryption suffix, ...) is
# one dstream cannot unpack, and its bytes are no executable either.
_TAR_LAYER = re.compile(r"\.tar(?P<compression>[.+].*)?$")
_UNPACKED_COMPRESSIONS = (None, "+gzip", ".gzip")

# What dstream picks an executable by: OS and architecture, in OCI (Go) spelling.
OS_ARCH = re.compile(r"^[a-z0-9]+/[a-z0-9]+$")
WITH_VARIANT = re.compile(r"^[a-z0-9]+/[a-z0-9]+/[a-z0-9]+$")  # linux/arm64/v8: refused


def not_os_arch(text: str) -> Optional[str]:
    """Why `text` is no platform dstream picks by (a variant would be a second name for
    the same executable, and is not recorded); None when it is OS/ARCH."""
    if OS_ARCH.match(text):
        return None
    return (
        f"{text!r} is not OS/ARCH: give an OS and an architecture, lower case, without "
        "a variant (linux/amd64, linux/arm64, darwin/arm64, windows/amd64)"
    )


def current_platform() -> str:
    """`os/arch` in OCI (Go) spelling, e.g. linux/amd64."""
    if sys.platform.startswith("linux"):
        os_name = "linux"
    elif sys.platform == "darwin":
        os_name = "darwin"
    elif sys.platform in ("win32", "cygwin"):
        os_name = "windows"
    else:
        os_name = sys.platform
    machine = _platform.machine().lower()
    return f"{os_name}/{_MACHINE_ARCH.get(machine, machine)}"


def platform_of_name(name: str) -> Optional[str]:
    """The platform a file name announces in either original convention, or None."""
    match = FLAT_NAME.match(name)
    if match:
        return f"{match['os']}/{match['arch']}"
    match = RID_NAME.match(name)
    if match:
        return f"{_RID_OS[match['os']]}/{_RID_ARCH[match['arch']]}"
    return None


def flat_name(plat: str) -> str:
    """The original's file name for a platform: plugin.linux_amd64, plugin.windows_amd64.exe."""
    os_name, arch = plat.split("/")[:2]
    return f"plugin.{os_name}_{arch}" + (".exe" if os_name == "windows" else "")


def descriptor_platform(desc: Json) -> Optional[str]:
    plat = desc.get("platform")
    if isinstance(plat, dict) and plat.get("os") and plat.get("architecture"):
        return f"{plat['os']}/{plat['architecture']}"
    annotations = desc.get("annotations") or {}
    if isinstance(annotations.get(PLATFORM_ANNOTATION), str):
        return str(annotations[PLATFORM_ANNOTATION])
    return platform_of_name(str(annotations.get(TITLE, "")))


def is_metadata(desc: Json) -> bool:
    title = (desc.get("annotations") or {}).get(TITLE)
    return desc.get("mediaType") == METADATA_MEDIA_TYPE or title == METADATA_TITLE


def is_index(manifest: Json, media_type: str = "") -> bool:
    return (manifest.get("mediaType") or media_type) in INDEX_TYPES or (
        "manifests" in manifest and "layers" not in manifest
    )


def container_config(manifest: Json) -> Optional[str]:
    """The config media type of a container image's manifest, None for an artifact."""
    config = manifest.get("config") or {}
    media_type = config.get("mediaType")
    if manifest.get("artifactType") or media_type not in CONTAINER_CONFIG_TYPES:
        return None
    return str(media_type)


def check_layer_type(layer: Json, ref: str) -> None:
    """Refuse a layer whose media type says it is a tar that dstream cannot unpack:
    sniffing its bytes would take it for the executable (it is not one)."""
    media_type = layer.get("mediaType")
    match = _TAR_LAYER.search(media_type) if isinstance(media_type, str) else None
    if match is None or match["compression"] in _UNPACKED_COMPRESSIONS:
        return
    title = (layer.get("annotations") or {}).get(TITLE) or layer.get("digest")
    raise OciError(
        f"provider {ref}: layer {title} has media type {media_type}, a tar compressed in a "
        "way dstream does not unpack (it reads tar and tar+gzip layers)",
        hint="push it again as a tar+gzip layer (application/vnd.oci.image.layer.v1.tar+gzip), "
        "or push the executable itself (`dstream providers push FILE:OS/ARCH --ref REF`)",
    )


class PlatformError(OciError):
    """The artifact has nothing for this OS and architecture."""


def _no_platform(ref: str, wanted: str, available: list[str]) -> PlatformError:
    has = sorted(set(available))
    # A push replaces the tag with what it is given: the hint's push gives every
    # platform the artifact has, and this one, so that none is lost.
    files = " ".join(f"FILE:{plat}" for plat in sorted({*has, wanted}))
    return PlatformError(
        f"provider {ref} has no executable for {wanted}; it has: {', '.join(has) or 'none'}",
        hint=f"push it with every platform it has, in one push (`dstream providers push "
        f"{files} --ref {ref}`: a push replaces the tag), or run dstream on one of those "
        "platforms",
    )


def select_from_index(manifest: Json, ref: str, wanted: str) -> Json:
    """The index entry for `wanted` (os/arch)."""
    available = []
    for entry in manifest.get("manifests") or []:
        plat = descriptor_platform(entry)
        if plat is None:
            continue
        available.append(plat)
        if plat.split("/")[:2] == wanted.split("/")[:2]:
            return dict(entry)
    raise _no_platform(ref, wanted, available)


def index_platforms(manifest: Json) -> list[str]:
    return [p for p in (descriptor_platform(e) for e in manifest.get("manifests") or []) if p]


@record
class Selection:
    layer: Json
    platform: str  # the layer's platform, or "any" for a single-layer artifact
    platforms: list[str]  # all platforms the artifact offers
    metadata: Optional[Json]  # descriptor of provider.json, if any


def select_layer(manifest: Json, ref: str, wanted: str) -> Selection:
    layers = list(manifest.get("layers") or [])
    metadata = next((d for d in layers if is_metadata(d)), None)
    payload = [d for d in layers if not is_metadata(d)]
    with_platform = [(d, descriptor_platform(d)) for d in payload]
    offered = [p for _, p in with_platform if p]
    if offered:
        for desc, plat in with_platform:
            if plat and plat.split("/")[:2] == wanted.split("/")[:2]:
                return Selection(desc, plat, offered, metadata)
        raise _no_platform(ref, wanted, offered)
    if len(payload) == 1:
        return Selection(payload[0], "any", ["any"], metadata)
    titles = [str((d.get("annotations") or {}).get(TITLE, d.get("digest"))) for d in payload]
    raise NoExecutable(
        f"provider {ref} has {len(payload)} layers and none names its platform: "
        + (", ".join(titles) or "no layers at all"),
        hint="name layers plugin.<os>_<arch> or push with `dstream providers push`",
    )
