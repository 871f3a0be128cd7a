"""The oci layer's error type: every failure of a registry, a reference, an artifact or
the provider cache is an `OciError`; subclasses say which, for callers that branch."""

from __future__ import annotations

from dstream.errors import DstreamError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Optional


# What to do about a connection to a registry that broke or ended early (transport.py,
# client.py): the same hint wherever it is met.
CUT_HINT = "retry; if it persists, check the network and the registry's logs"


class OciError(DstreamError):
    """A provider artifact could not be resolved, fetched, verified or unpacked."""


class RegistryError(OciError):
    """The registry could not be reached or refused a request."""


class RegistryUnreachable(RegistryError):
    """The registry cannot serve now: no answer at all (connection refused, DNS, a
    timeout), a connection that broke, stalled or ended early mid-body, or an answer
    that says so (429, 5xx). A verified cached copy may serve. An answer about the
    request itself (401, 403, 404) is a plain RegistryError: waiting will not change it."""


class ArchiveError(OciError):
    """A provider's tar layer was refused (it breaks the extraction policy or a cap) or
    could not be read (truncated, corrupt); the message names the artifact and member."""


class NoExecutable(OciError):
    """Nothing in an artifact is clearly the executable for the platform: layers that
    name no platform, or an archive of several files none of which is named so."""


class ManifestError(OciError):
    """A manifest or index breaks the shape dstream reads (a descriptor without a
    sha256 digest or an integer size, `layers` that is not a list, ...): the message
    names the reference and the field."""


class CacheError(OciError):
    """The provider cache could not be written or read (a full disk, a file where a
    directory belongs, no permission): the message names the path."""


class CacheMismatch(OciError):
    """A cached copy failed its check against the verified manifests (oci/verify.py): a
    file that does not hash to its digest, an unpacked tree that is not its archive, a
    ref record that names what the manifest does not. It is not used: the reference is
    pulled again. The message names the path and what it should have matched; `stale`
    is what to remove first, which a pull would otherwise keep (an unpacked tree)."""

    def __init__(self, reason: str, *, stale: Optional[Path] = None) -> None:
        super().__init__(
            reason,
            hint="the copy is not run and the reference is pulled again; a cache others "
            "can write (a shared DSTREAM_CACHE_DIR, a restored CI cache) should be yours alone",
        )
        self.stale = stale
