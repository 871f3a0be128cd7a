"""Where dstream keeps what it can rebuild: pulled providers (oci/), parsed
configuration trees (hcl/), provider descriptions (describe/), warm-start snapshots
(warm/). `$DSTREAM_CACHE_DIR`, else `$XDG_CACHE_HOME/dstream`, else `~/.cache/dstream`.
What it holds decides what runs, so an entry another user could have written is never
read (`owned`); what the provider cache holds is checked by digest instead (oci/)."""

from __future__ import annotations

import _thread  # threading's get_ident without threading's import (the warm start's path)
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


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


def read_owned(path: str) -> Optional[bytes]:
    """The entry at `path`; None when it is absent or unreadable, or when another user
    could have written it or its folder (`owned`): such an entry is never read."""
    try:
        with open(path, "rb") as handle:
            if owned(os.fstat(handle.fileno())) and owned(os.stat(os.path.dirname(path))):
                return handle.read()
    except OSError:
        pass
    return None


def keep(path: str, data: bytes, *, private: bool) -> None:
    """Write the entry at `path` atomically, best effort: an entry that cannot be
    written only costs rebuilding it next time. `private`: the entry may hold a secret
    (a parse tree holds the file's text), so it and its folder are the owner's alone
    (0600, 0700); otherwise 0644 in a folder no one else may write, whatever the umask
    (one of 002 made an entry 0664, which `owned` refuses, so it was rebuilt each time).
    Nothing is written into a folder another user owns: that user could read it, and it
    is never read from there."""
    folder = os.path.dirname(path)
    # Unique per thread too (two threads of one command may keep one entry); what a
    # killed writer left under that name, or a planted link, is removed first.
    tmp = f"{path}.{os.getpid()}.{_thread.get_ident()}.tmp"
    try:
        os.makedirs(folder, mode=0o700 if private else 0o755, exist_ok=True)
        st = os.stat(folder)
        if st.st_uid != os.geteuid():
            return
        closed = st.st_mode & (0o700 if private else 0o755)
        if closed != st.st_mode & 0o777:  # one an earlier version made more open
            os.chmod(folder, closed)
        discard(tmp)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        mode = 0o600 if private else 0o644
        with os.fdopen(os.open(tmp, flags, mode), "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # the umask may have narrowed it
            handle.write(data)
        os.replace(tmp, path)
    except OSError:
        discard(tmp)


def discard(path: str) -> None:
    """Remove the entry at `path`, if it is there."""
    try:  # noqa: SIM105 - contextlib is not loaded on a warm start's path
        os.unlink(path)
    except OSError:
        pass
