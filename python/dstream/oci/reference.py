"""OCI references: `[registry[:port]/]repository[:tag][@sha256:hex]`.

The grammar is the one Docker and the distribution project use, defined for provider_ref
and provider_image alike in config/reference_syntax.py (a first component is a registry
when it holds a dot or a colon or is `localhost`); here, a reference without a registry
is on Docker Hub, and a single-component name there lives under `library/`, also when
Docker Hub is written out: `docker.io/counter`, `index.docker.io/counter`. The original
DStream rejected ports and digests; both are accepted here.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from typing import Optional

from dstream.config.reference_syntax import (
    REFERENCE_HINT,
    InvalidReference,
    split_host_port,
    split_reference,
)
from dstream.config.references import credential_in
from dstream.errors import ExitCode
from dstream.oci.errors import OciError
from dstream.records import record

DEFAULT_TAG = "latest"
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_NAMES = (DOCKER_HUB, "index.docker.io", DOCKER_HUB_API)  # one registry's spellings
MAX_NAME_LENGTH = 255

_SHA256 = re.compile(r"^sha256:[a-f0-9]{64}$")


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


def is_digest(text: str) -> bool:
    """sha256:<64 lowercase hex>: the only digest dstream asks for or accepts."""
    return bool(_SHA256.match(text))


def parse_reference(text: str) -> Reference:
    """Parse a provider_ref (the grammar: config/reference_syntax.py). Raises
    BadReference naming the part that is wrong; a reference that holds a credential is
    refused first, with the credential masked."""
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
        raise BadReference("empty provider reference", hint=REFERENCE_HINT)
    digest = ref.partition("@")[2]
    if "@" in ref and not is_digest(digest):
        algo = digest.split(":", 1)[0] if ":" in digest else ""
        why = (
            f"digest algorithm {algo!r} is not supported (only sha256)"
            if algo and algo != "sha256"
            else f"digest {digest!r} is not sha256:<64 lowercase hex digits>"
        )
        raise BadReference(f"invalid provider reference {text!r}: {why}", hint=REFERENCE_HINT)
    try:
        registry, path, tag, _ = split_reference(ref)
    except InvalidReference as exc:
        why = f"invalid provider reference {text!r}: {exc.why}"
        raise BadReference(why, hint=REFERENCE_HINT) from None
    if registry is None or registry in DOCKER_HUB_NAMES:  # one cache key, one API host
        registry = DOCKER_HUB
        if len(path) == 1:  # official images live under library/, as Docker reads them
            path = ["library", *path]
    repository = "/".join(path)
    if len(registry) + 1 + len(repository) > MAX_NAME_LENGTH:
        raise BadReference(
            f"invalid provider reference {text!r}: name longer than {MAX_NAME_LENGTH} characters",
            hint=REFERENCE_HINT,
        )
    if tag is None and not digest:
        tag = DEFAULT_TAG
    return Reference(registry=registry, repository=repository, tag=tag, digest=digest or None)


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
    host, _ = split_host_port(registry)
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
