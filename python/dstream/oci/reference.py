"""OCI references: `[registry[:port]/]repository[:tag][@sha256:hex]`.

The grammar is the one Docker and the distribution project use (a first component is a
registry when it holds a dot or a colon or is `localhost`; otherwise the reference is on
Docker Hub, and a single-component name there lives under `library/`, also when Docker
Hub is written out: `docker.io/counter`, `index.docker.io/counter`). The original
DStream rejected ports and digests; both are accepted here.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from typing import Optional

from dstream.config.references import credential_in
from dstream.errors import ExitCode
from dstream.oci.errors import OciError
from dstream.records import record

DEFAULT_TAG = "latest"
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_NAMES = (DOCKER_HUB, "index.docker.io", DOCKER_HUB_API)  # one registry's spellings
MAX_NAME_LENGTH = 255

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
_SHA256 = re.compile(r"^sha256:[a-f0-9]{64}$")

_HINT = (
    "write it as [registry[:port]/]repository[:tag][@sha256:<64 hex>], "
    "e.g. ghcr.io/acme/providers/counter:1.2.0"
)


class BadReference(OciError):
    """A provider reference that does not follow the OCI reference grammar."""

    exit_code = ExitCode.USAGE


@record(frozen=True)
class Reference:
    registry: str  # as written, with port: "localhost:5000", "ghcr.io", "docker.io"
    repository: str  # "acme/providers/counter"
    tag: Optional[str] = None
    digest: Optional[str] = None  # "sha256:<hex>"

    @property
    def api_host(self) -> str:
        """The host:port the distribution API answers on."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def target(self) -> str:
        """What /v2/<name>/manifests/<target> asks for: the digest wins over the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def pinned(self) -> bool:
        return self.digest is not None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        out = self.name + (f":{self.tag}" if self.tag else "")
        if self.digest:
            return f"{out}@{self.digest}"
        return out if self.tag else f"{out}:{DEFAULT_TAG}"


def _split_host_port(registry: str) -> tuple[str, Optional[str]]:
    if registry.startswith("["):  # [IPv6]:port
        end = registry.find("]")
        if end < 0:
            return registry, None
        host, rest = registry[1:end], registry[end + 1 :]
        return host, rest[1:] if rest.startswith(":") else (rest or None)
    if ":" in registry:
        host, port = registry.rsplit(":", 1)
        return host, port
    return registry, None


def _check_registry(registry: str, ref: str) -> None:
    host, port = _split_host_port(registry)
    if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
        raise BadReference(
            f"invalid provider reference {ref!r}: port {port!r} of registry {registry!r} "
            "is not a number between 1 and 65535",
            hint=_HINT,
        )
    if registry.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise BadReference(
                f"invalid provider reference {ref!r}: {registry!r} is not a valid IPv6 registry",
                hint=_HINT,
            ) from None
        return
    if not _HOST.match(host):
        raise BadReference(
            f"invalid provider reference {ref!r}: {host!r} is not a valid registry host name",
            hint=_HINT,
        )


def is_digest(text: str) -> bool:
    """sha256:<64 lowercase hex>: the only digest dstream asks for or accepts."""
    return bool(_SHA256.match(text))


def is_tag(text: str) -> bool:
    return bool(_TAG.match(text))


def parse_reference(text: str) -> Reference:
    """Parse a provider_ref. Raises BadReference naming the part that is wrong; a
    reference that holds a credential is refused first, with the credential masked."""
    ref = text.strip()
    found = credential_in(ref)
    if found is not None:
        masked, hint = found
        raise BadReference(
            f"invalid provider reference {masked!r}: it holds a credential (user:password@)",
            hint=hint,
        )
    if ref.startswith("oci://"):  # the form Helm and ORAS users write
        ref = ref[len("oci://") :]
    if not ref:
        raise BadReference("empty provider reference", hint=_HINT)
    if any(ch.isspace() for ch in ref):
        raise BadReference(f"invalid provider reference {text!r}: contains whitespace", hint=_HINT)

    digest: Optional[str] = None
    if "@" in ref:
        ref_part, digest = ref.split("@", 1)
        if not is_digest(digest):
            algo = digest.split(":", 1)[0] if ":" in digest else ""
            why = (
                f"digest algorithm {algo!r} is not supported (only sha256)"
                if algo and algo != "sha256"
                else f"digest {digest!r} is not sha256:<64 lowercase hex digits>"
            )
            raise BadReference(f"invalid provider reference {text!r}: {why}", hint=_HINT)
    else:
        ref_part = ref

    # A tag follows the last colon after the last slash (a colon before it is a port).
    tag: Optional[str] = None
    last_slash = ref_part.rfind("/")
    colon = ref_part.rfind(":")
    if colon > last_slash:
        ref_part, tag = ref_part[:colon], ref_part[colon + 1 :]
        if not _TAG.match(tag):
            raise BadReference(
                f"invalid provider reference {text!r}: tag {tag!r} must be 1-128 characters "
                "of letters, digits, '_', '.', '-' and not start with '.' or '-'",
                hint=_HINT,
            )

    parts = ref_part.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost" or "[" in first):
        registry, path = first, parts[1:]
        _check_registry(registry, text)
    else:
        registry, path = DOCKER_HUB, parts
    if registry in DOCKER_HUB_NAMES:  # Docker Hub by any name: one cache key, one API host
        registry = DOCKER_HUB
        if len(path) == 1:  # official images live under library/, as Docker reads them
            path = ["library", *path]

    for component in path:
        if not component:
            raise BadReference(
                f"invalid provider reference {text!r}: empty repository path component "
                "(a '//' or a trailing '/')",
                hint=_HINT,
            )
        if not _COMPONENT.match(component):
            why = (
                "repository names must be lowercase"
                if component.lower() != component and _COMPONENT.match(component.lower())
                else "only lowercase letters, digits and single separators (. _ __ -) "
                "between them are allowed"
            )
            raise BadReference(
                f"invalid provider reference {text!r}: repository component {component!r}: {why}",
                hint=_HINT,
            )
    repository = "/".join(path)
    if len(registry) + 1 + len(repository) > MAX_NAME_LENGTH:
        raise BadReference(
            f"invalid provider reference {text!r}: name longer than {MAX_NAME_LENGTH} characters",
            hint=_HINT,
        )
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(registry=registry, repository=repository, tag=tag, digest=digest)


def loopback_addresses(host: str) -> list[str]:
    """The addresses of `host` when every one is loopback, else none. For names under
    .localhost: RFC 6761 reserves them for loopback, but a resolver that asks the
    network may be told any address."""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))  # in its order
    return addresses if all(_loopback_ip(a) for a in addresses) else []


def _loopback_ip(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback  # fe80::1%eth0
    except ValueError:
        return False


def is_loopback(registry: str) -> bool:
    host, _ = _split_host_port(registry)
    if host == "localhost":
        return True
    if host.endswith(".localhost"):
        return bool(loopback_addresses(host))
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def uses_plain_http(registry: str, insecure: bool = False) -> bool:
    """Loopback registries speak plain HTTP; any other only with an explicit opt-in
    (`insecure=True`, or its host:port listed in DSTREAM_INSECURE_REGISTRIES)."""
    if insecure or is_loopback(registry):
        return True
    listed = os.environ.get("DSTREAM_INSECURE_REGISTRIES", "")
    return registry in {item.strip() for item in listed.split(",") if item.strip()}
