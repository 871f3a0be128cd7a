"""Registry references in a dstream.hcl (provider_ref, provider_image): one that holds
a credential (`user:password@registry/...`) is refused wherever the configuration is
read, with the credential masked. Where a credential sits in a reference is defined
here, once: the oci layer, above this one, refuses it in a reference given on the
command line with the same words.
"""

from __future__ import annotations

import re

from dstream.config.redact import remember
from dstream.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.config.syntax import Attribute

# Compiled on first use (re keeps it): a plain run never uses it, and a compile at
# import costs ~0.5 M instructions of every start (issue 22).
_SCHEME = r"^[A-Za-z][A-Za-z0-9+.-]*://"


def credential_in(reference: str) -> Optional[tuple[str, str]]:
    """(the reference with its credential masked, what to do) when `reference` holds a
    `user:password@` before its registry; None when it does not. In a reference without
    one an `@` only comes after the last `/` (before the digest), so what precedes an
    `@` before it is the credential, up to the last such `@` (a password may hold `@` or
    `/`). The credential, whole and its password alone, is masked in every output from
    now on."""
    scheme = re.match(_SCHEME, reference)
    start = scheme.end() if scheme else 0
    slash = reference.rfind("/")
    end = reference.rfind("@", start, slash) if slash > start else -1
    if end < 0:
        return None
    userinfo = reference[start:end]
    remember([userinfo, userinfo.partition(":")[2]])
    host = reference[end + 1 :].split("/", 1)[0]
    hint = (
        "remove it from the reference: put credentials in DSTREAM_REGISTRY_USERNAME and "
        f"DSTREAM_REGISTRY_PASSWORD, or log in (`docker login {host}`, `podman login {host}`)"
    )
    return reference[:start] + "***" + reference[end:], hint


def provider_reference(value: str, attribute: Attribute, context: str) -> str:
    """provider_ref and provider_image: a reference holding a credential is refused,
    masked, wherever the configuration is read (lint, show, list, run); so is a
    provider_image that breaks the reference grammar, which the engine is given as
    written (a provider_ref is parsed where it is pulled, and by lint)."""
    found = credential_in(value.strip())
    if found is not None:
        masked, hint = found
        raise ConfigError(
            f"{attribute.name} in {context} holds a credential: {masked!r}",
            location=attribute.value_location,
            hint=hint,
        )
    if attribute.name == "provider_image":
        from dstream.config.reference_syntax import (
            REFERENCE_HINT,
            InvalidReference,
            split_reference,
        )

        try:
            split_reference(value)
        except InvalidReference as exc:
            raise ConfigError(
                f"provider_image {value!r} in {context} is not a valid image reference: {exc.why}",
                location=attribute.value_location,
                hint=REFERENCE_HINT,
            ) from None
    return value
