"""OCI distribution of providers: `provider_ref` artifacts pulled with a native client
for the distribution API, verified by digest and cached by content.

The runtime calls `pull` (runtime/resolve.py `pull_ref`, once per block and command);
`dstream providers` drives the rest. This package imports nothing from the runtime or
the CLI: it sits below them, beside `state`.
"""

from __future__ import annotations

from dstream.oci.errors import ArchiveError, OciError
from dstream.oci.pull import (
    PullResult,
    cached_provider_ref,
    inspect,
    pull,
    resolution_record,
    resolve_provider_ref,
)
from dstream.oci.reference import BadReference, Reference, parse_reference

__all__ = [
    "ArchiveError",
    "BadReference",
    "OciError",
    "PullResult",
    "Reference",
    "cached_provider_ref",
    "inspect",
    "parse_reference",
    "pull",
    "resolution_record",
    "resolve_provider_ref",
]
