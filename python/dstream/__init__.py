"""dstream: Terraform for data streaming.

Declarative tasks wire an input provider to an output provider; a Rust pump moves
newline-delimited JSON envelopes between them (see docs/protocol.md).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.errors import DstreamError

__all__ = ["DstreamError", "__version__"]

__version__: str  # read on first use (below), not on import


def __getattr__(name: str) -> object:
    # Both on first use: importing this package is the first thing every command and
    # every provider does, before the command line's entry (cli/entry.py) can set up.
    if name == "DstreamError":
        from dstream.errors import DstreamError

        return DstreamError
    # The version lives in Cargo.toml alone and the wheel's metadata carries it; reading
    # the metadata imports importlib.metadata (~15 ms), which every `dstream run` and
    # every provider (they import this package too) would pay without ever needing it.
    # The metadata is the installed distribution's, whatever its name (`dstream-io` on
    # PyPI): never version("dstream"), which may be the unrelated PyPI project's.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from dstream.extras import installed_distribution

    found = installed_distribution()
    value = found.version if found is not None else "0+unknown"  # a source tree, no metadata
    globals()["__version__"] = value
    return value
