"""Where dstream keeps what it can rebuild: pulled providers (oci/), parsed
configuration trees (hcl/), provider descriptions (describe/). `$DSTREAM_CACHE_DIR`,
else `$XDG_CACHE_HOME/dstream`, else `~/.cache/dstream`."""

from __future__ import annotations

import os


def cache_root() -> str:
    """A path string, not a pathlib.Path: every run asks for it, and pathlib's import
    (with fnmatch and urllib.parse) is not needed on a run's path otherwise (issue 22)."""
    env = os.environ.get("DSTREAM_CACHE_DIR")
    if env:
        return env
    xdg = os.environ.get("XDG_CACHE_HOME")
    return os.path.join(xdg or os.path.join(os.path.expanduser("~"), ".cache"), "dstream")
