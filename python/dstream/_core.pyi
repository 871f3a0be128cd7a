"""dstream._core: the Rust byte-moving core (rust/dstream-py over rust/dstream-core).

Only file descriptors, byte slices, options and counters cross this border. No Python
object is built per frame; every blocking call releases the GIL and checks for Ctrl-C
(KeyboardInterrupt is raised after the pump has been stopped cleanly).
"""

from typing import Literal, Optional

__version__: str
PROTOCOL_VERSION: int  # must match protocol/frames.py
DEFAULT_MAX_FRAME_SIZE: int  # must match protocol/frames.py
BUILD_INFO: dict[str, str]  # rustc version, target triple, profile, features

Policy = Literal["fail", "skip", "dead_letter"]
Outcome = Literal["eof", "stopped", "invalid_frame", "output_closed", "io_error"]

class PumpOptions:
    """How a pump treats frames.

    max_frame_size: frames longer than this (without the newline) are invalid; the pump
        never buffers more than this plus its read buffer.
    policy: what an invalid frame does. "fail" ends the run with outcome "invalid_frame";
        "skip" counts and drops it; "dead_letter" appends a JSON line
        {"offset", "reason", "raw"|"raw_base64", "task"} to dead_letter_path, then drops it.
    validate: False selects passthrough: bytes are moved (splice(2) on Linux) without
        framing; only bytes are counted.
    count_tables: count data frames per metadata.TableName.
    read_buffer_size: bytes read per syscall.
    start_offset: stream offset of the first byte (after a handshake line), for messages.
    task: task name written into dead-letter records.
    """

    def __init__(
        self,
        *,
        max_frame_size: int = ...,
        policy: Policy = "fail",
        dead_letter_path: Optional[str] = None,
        validate: bool = True,
        count_tables: bool = True,
        read_buffer_size: int = 1 << 18,
        start_offset: int = 0,
        task: str = "",
    ) -> None: ...

class Counters:
    """A consistent snapshot of a pump's counters."""

    frames: int  # valid frames forwarded (data + checkpoints)
    bytes: int  # bytes forwarded, newlines included
    data_frames: int
    checkpoint_frames: int
    invalid_frames: int  # skipped + dead_lettered (+1 for the frame that failed a run)
    skipped: int
    dead_lettered: int
    bytes_read: int
    tables: dict[str, int]  # data frames per metadata.TableName (when count_tables)
    def as_dict(self) -> dict[str, object]: ...

class PumpResult:
    outcome: Outcome
    counters: Counters
    message: Optional[str]  # what went wrong, for every outcome but "eof"/"stopped"
    offset: Optional[int]  # stream offset of the offending frame
    excerpt: Optional[bytes]  # its first bytes (at most 120)

class Pump:
    """Moves frames from input_fd to output_fd until input EOF, stop() or an error.

    `prefix` holds bytes already read from input_fd (a legacy provider's first line and
    whatever followed it in the same read); they are framed before anything else.
    The pump neither closes nor owns the fds.
    """

    def __init__(
        self, input_fd: int, output_fd: int, options: PumpOptions, prefix: bytes = b""
    ) -> None: ...
    def run(self) -> PumpResult:
        """Blocks until the stream ends. Releases the GIL. May be called once."""
    def stop(self) -> None:
        """Thread-safe: makes run() return promptly with outcome "stopped"."""
    def counters(self) -> Counters:
        """Thread-safe live snapshot while run() is in progress."""
    def take_checkpoints(self) -> list[bytes]:
        """Checkpoint frames (raw JSON lines, no newline) queued for the output since the
        last call, in stream order. They are handed out before the write that carries them
        returns, so an acknowledgement can never arrive for one not yet taken here.
        Thread-safe."""
