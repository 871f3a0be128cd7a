"""The oci layer's error type: every failure of a registry, a reference, an artifact or
the provider cache is an `OciError`; subclasses say which, for callers that branch."""

from __future__ import annotations

from dstream.errors import DstreamError


class OciError(DstreamError):
    """A provider artifact could not be resolved, fetched, verified or unpacked."""


class ArchiveError(OciError):
    """A provider's tar layer was refused (it breaks the extraction policy or a cap) or
    could not be read (truncated, corrupt); the message names the artifact and member."""
