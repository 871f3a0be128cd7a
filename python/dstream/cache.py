"""Where dstream keeps what it can rebuild: pulled providers (oci/), parsed
configuration trees (hcl/), provider descriptions (describe/), warm-start snapshots
(warm/). `$DSTREAM_CACHE_DIR`, else `$XDG_CACHE_HOME/dstream`, else `~/.cache/dstream`.
What it holds decides what runs, so an entry another user could have written is never
read (`owned`); what the provider cache holds is checked by digest instead (oci/)."""

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


def owned(st: os.stat_result) -> bool:
    """Whether only this user could have written it (owned by the user, writable by no
    group or other), as ssh refuses such an authorized_keys. A parse tree, a provider's
    description and a warm snapshot each decide what runs before anything is checked
    against the configuration, so an entry, or a folder, that fails this is not read:
    ask it of the opened file (os.fstat) and of its folder (os.stat)."""
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022
