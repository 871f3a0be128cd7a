"""Whether a container still holds its stdin open, as this host's /proc shows it (a
local engine: Docker's or podman's containers are processes of this host).

The engine takes what dstream writes whether the container reads its stdin or closed
it (podman's conmon drops it): the broken pipe that tells the pump a local output left
the stream early never comes. So at the end of the stream, before its EOF is sent,
dstream looks whether any process of the container still has its stdin pipe open.
"""

from __future__ import annotations

import contextlib
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


def stdin_pipe(pid: int, container_id: str) -> Optional[str]:
    """The stdin of the container's first process `pid` ("pipe:[N]"), or None where
    this host cannot say: the engine runs elsewhere (`pid` is then another host's, so
    the process must be in the container's cgroup), /proc is not readable, or its stdin
    is no pipe."""
    try:
        with open(f"/proc/{pid}/cgroup") as cgroup:
            if container_id not in cgroup.read():
                return None
        pipe = os.readlink(f"/proc/{pid}/fd/0")
    except OSError:
        return None
    return pipe if pipe.startswith("pipe:") else None


def holds(pid: int, pipe: str) -> Optional[bool]:
    """Whether process `pid` or one it started (children of children too) has `pipe`
    open; None when it cannot be told (the process is gone, and its exit says the rest,
    or not this user's to look at)."""
    try:
        os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    found = [pid]
    for each in found:  # grows as it goes: breadth first
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{each}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{each}/fd/{fd}") == pipe:
                        return True
        found.extend(_children(each))
    return False if os.path.exists(f"/proc/{pid}") else None


def _children(pid: int) -> list[int]:
    """The processes `pid`'s threads started."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            path = f"/proc/{pid}/task/{task}/children"
            with contextlib.suppress(OSError, ValueError), open(path) as children:
                found.extend(int(child) for child in children.read().split())
    return found
