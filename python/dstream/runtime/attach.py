"""What a container engine itself writes into a container's attach stream, told apart
from what the container wrote (runtime/container.py demultiplexes the stream).

podman ends an attach stream that broke with its own error, as one frame of its own on
the stderr channel (libpod's hijackWriteError): "Error: read unixpacket
@->/proc/self/fd/14/attach: read: connection reset by peer". The socket is the one of
conmon, which relays the container's stdio; it is reset when conmon closes it with
stdin still unread, which it stops reading once the container's stdin is closed. Docker
logs such errors in its daemon's log, not in the stream.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

# The longest frame looked at: an engine's error is one short line.
ENGINE_FRAME_MAX = 1024
_ENGINE_ERROR = re.compile(
    rb"Error: (?:read|write) unixpacket \S*/attach: (?:read|write): (?P<why>[^\n]+)\n?"
)


def engine_error(frame: bytes) -> Optional[str]:
    """The engine's error `frame` (one whole stderr frame) is, for a person; None when
    the container wrote it."""
    if len(frame) > ENGINE_FRAME_MAX or _ENGINE_ERROR.fullmatch(frame) is None:
        return None
    return frame.decode("utf-8", "replace").rstrip("\n")
