"""dstream: Terraform for data streaming.

Declarative tasks wire an input provider to an output provider; a Rust pump moves
newline-delimited JSON envelopes between them (see docs/protocol.md).
"""

from __future__ import annotations

from dstream.errors import DstreamError

try:  # the version lives in Cargo.toml alone; the wheel's metadata carries it
    from importlib.metadata import version as _version

    __version__ = _version("dstream")
except Exception:  # pragma: no cover - running from a source tree without metadata
    __version__ = "0+unknown"

__all__ = ["DstreamError", "__version__"]
