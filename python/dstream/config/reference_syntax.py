"""The grammar of a registry reference, `[registry[:port]/]repository[:tag][@digest]`,
defined once: for a provider_ref (oci/reference.py, which adds Docker Hub's naming and
accepts only sha256 digests) and for a provider_image, whose text goes to the container
engine as written (config/references.py checks it where the configuration is read, so
a typo is a configuration error at its line, not an engine's answer at run time).

It is the grammar Docker and the distribution project use: a first component is a
registry when it holds a dot or a colon or is `localhost`; repository components are
lowercase. Imported only by a configuration that names a reference; its patterns are
compiled on first use (re keeps them), not at import (issue 22).
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

REFERENCE_HINT = (
    "write it as [registry[:port]/]repository[:tag][@sha256:<64 hex>], "
    "e.g. ghcr.io/acme/providers/counter:1.2.0"
)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*"
# Any algorithm the distribution grammar allows (an engine may know sha512); a
# provider_ref then accepts sha256 alone (oci/reference.py).
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"


class InvalidReference(ValueError):
    """A reference that breaks the grammar: `why` names the part that is wrong (the
    caller says which reference, and where it is written)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def split_host_port(registry: str) -> tuple[str, Optional[str]]:
    """(host, port) of a registry as written: `[::1]:5000`, `localhost:5000`, `ghcr.io`."""
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


def is_tag(text: str) -> bool:
    return re.fullmatch(_TAG, text) is not None


def split_reference(text: str) -> tuple[Optional[str], list[str], Optional[str], Optional[str]]:
    """(registry or None, repository components, tag, digest) of `text`, taken as
    written (no whitespace is stripped: an engine would not strip it either). Raises
    InvalidReference naming the part that is wrong."""
    if not text:
        raise InvalidReference("it is empty")
    if any(ch.isspace() for ch in text):
        raise InvalidReference("it contains whitespace")
    name, _, digest = text.partition("@")
    if "@" in text and re.fullmatch(_DIGEST, digest) is None:
        raise InvalidReference(f"digest {digest!r} is not <algorithm>:<hex digits>")
    # A tag follows the last colon after the last slash (a colon before it is a port).
    tag: Optional[str] = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
        if not is_tag(tag):
            raise InvalidReference(
                f"tag {tag!r} must be 1-128 characters of letters, digits, '_', '.', '-' "
                "and not start with '.' or '-'"
            )
    parts = name.split("/")
    first = parts[0]
    registry: Optional[str] = None
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost" or "[" in first):
        registry, parts = first, parts[1:]
        _check_registry(registry)
    for component in parts:
        _check_component(component)
    return registry, parts, tag, digest or None


def _check_registry(registry: str) -> None:
    host, port = split_host_port(registry)
    if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
        raise InvalidReference(
            f"port {port!r} of registry {registry!r} is not a number between 1 and 65535"
        )
    if registry.startswith("["):
        import ipaddress

        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidReference(f"{registry!r} is not a valid IPv6 registry") from None
    elif re.fullmatch(_HOST, host) is None:
        raise InvalidReference(f"{host!r} is not a valid registry host name")


def _check_component(component: str) -> None:
    if not component:
        raise InvalidReference("empty repository path component (a '//' or a trailing '/')")
    if re.fullmatch(_COMPONENT, component) is None:
        why = (
            "repository names must be lowercase"
            if re.fullmatch(_COMPONENT, component.lower())
            else "only lowercase letters, digits and single separators (. _ __ -) "
            "between them are allowed"
        )
        raise InvalidReference(f"repository component {component!r}: {why}")
