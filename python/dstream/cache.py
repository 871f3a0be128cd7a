"""Where dstream keeps what it can rebuild: pulled providers (oci/), parsed
configuration trees (hcl/). `$DSTREAM_CACHE_DIR`, else `$XDG_CACHE_HOME/dstream`,
else `~/.cache/dstream`."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    env = os.environ.get("DSTREAM_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "dstream"
