"""dstream._core: the Rust byte-moving core (rust/dstream-py over rust/dstream-core).

Only file descriptors, byte slices, options and counters cross this border. No Python
object is built per frame; every blocking call releases the GIL and checks for Ctrl-C
(KeyboardInterrupt is raised after the pump has been stopped cleanly).
"""

from typing import Any, Callable, Literal, Optional, Union, final

from typing_extensions import Self

__all__ = [
    "BUILD_INFO",
    "COUNTERS",
    "DEFAULT_MAX_FRAME_SIZE",
    "EXCERPT_LEN",
    "LOG_LINE_LEN",
    "MAX_IN_FLIGHT_CHECKPOINTS",
    "PROTOCOL_VERSION",
    "Counters",
    "Fragment",
    "PgoutputSession",
    "Pump",
    "PumpOptions",
    "PumpResult",
    "__version__",
    "checkpoint_value",
    "die_with_parent",
    "dumps",
    "find",
]

__version__: str
PROTOCOL_VERSION: int  # must match protocol/frames.py
DEFAULT_MAX_FRAME_SIZE: int  # must match protocol/frames.py
# Bytes of an invalid frame a PumpResult's excerpt keeps, and of a legacy log line
# take_log_lines gives at most (rust/dstream-core pump/options.rs): a text that long was cut.
EXCERPT_LEN: int
LOG_LINE_LEN: int
# The most checkpoints a pump forwards that are not acknowledged yet (Pump.acknowledged);
# while there are that many, it holds the newest one back (docs/delivery.md).
MAX_IN_FLIGHT_CHECKPOINTS: int
BUILD_INFO: dict[str, str]  # rustc version, target triple, profile, features
# (name, meaning) of every pump counter, in order: the one list (rust/dstream-core
# counters.rs); Counters has one attribute per name (tests/core/test_counters.py)
COUNTERS: tuple[tuple[str, str], ...]

Policy = Literal["fail", "skip", "dead_letter"]
# "dead_letter_failed": the dead-letter file could not be opened, written or synced
Outcome = Literal[
    "eof",
    "stopped",
    "deadline_passed",
    "invalid_frame",
    "output_closed",
    "dead_letter_failed",
    "io_error",
]

@final
class PumpOptions:
    """How a pump treats frames.

    max_frame_size: frames longer than this (without the newline, and without a "\r"
        before it) are invalid; the pump never buffers more than this plus its read
        buffer. An oversized line is consumed to its end while it streams by (never
        buffered whole), so the "fail" message can give its size. A whitespace-only line
        longer than this is oversized too (blank lines are ignored only within the limit).
    policy: what an invalid frame does. "fail" ends the run with outcome "invalid_frame";
        "skip" counts and drops it; "dead_letter" appends a JSON line
        {"offset", "reason", "raw"|"raw_base64", "task"} to dead_letter_path, then drops it.
        "raw" is the frame as a JSON string when it is UTF-8, else "raw_base64" holds it.
        An oversized frame is streamed into its record as it is read:
        {"task", "offset", "reason", "raw_base64": <every byte of the line but its "\n">,
        "length": <that byte count>}. The file is opened in append mode on the first
        invalid frame (not created when there is none) and flushed + fsynced before run()
        returns. ValueError when dead_letter_path is missing.
    validate: False selects passthrough: bytes are moved (splice(2) on Linux when one side
        is a pipe, read/write otherwise) without framing; only bytes are counted.
    count_tables: count data frames per metadata.TableName.
    read_buffer_size: bytes read per syscall.
    start_offset: stream offset of the first byte (after a handshake line), for messages.
        Offsets are byte offsets in the input stream: start_offset + bytes before the
        frame, prefix included.
    task: task name written into dead-letter records.
    validate_threads: threads validating a batch of frames (0: one per CPU, at most 4).
        With more than one, the pump reads ahead while the input has data immediately
        available (up to read_buffer_size) and splits the batch's validation; output
        order and policies are unchanged. Default 1: on a 2-CPU machine, where the
        providers compete for the same CPUs, more threads measured slower.
    pipe_size: Linux only: when input_fd / output_fd are pipes, their kernel buffers are
        grown to at least this many bytes (F_SETPIPE_SZ, best effort, never shrunk;
        0 leaves them alone). 1 MiB pipes measured about 1.6x the throughput of the
        default 64 KiB ones; memory stays bounded (kernel memory, per pipe).
    zero_copy: Linux only, validating with one thread, input_fd a pipe: valid frames are
        forwarded from the input pipe by tee(2)/splice(2) after being validated from a
        peeked copy, instead of being written from the pump's buffer: one copy of every
        byte fewer. Where splice(2) refuses the output (a terminal, an O_APPEND file) the
        pump writes instead. The output is byte-for-byte the same; False always reads
        and writes.
    batch_scheduling: Linux only: the thread calling run() is under SCHED_BATCH until
        it returns (its own policy is restored; a thread not under SCHED_OTHER is left
        alone). The pump wakes for every write of its input, and under SCHED_OTHER each
        wake-up may preempt the process producing the data; SCHED_BATCH only gives up
        that wake-up preemption (fair share kept, a free CPU still taken at once).
    legacy_logs: the input is a legacy provider (no handshake) that may print its log on
        stdout: an invalid line whose first non-blank byte is not "{" is a log line,
        counted in log_lines and handed to Pump.take_log_lines(), whatever the policy.
        Valid frames and the fast path are untouched.
    forward_checkpoints: False: checkpoint frames are counted in checkpoints_withheld
        and not written (an output that never acknowledges would take them for data).
    input_pid: Linux only: the pid of the process writing input_fd, a child of this
        process not yet reaped. At EOF with an unterminated last line the pump waits (up
        to 5 s) for it to exit: when it crashed (killed by a signal, or exit code not 0)
        that line is a torn write, dropped and reported in PumpResult.torn (neither a
        frame nor an invalid frame); after a clean exit it is the last frame.

    The attributes of the same names are readable (PumpOptions is immutable).
    """

    max_frame_size: int
    policy: Policy
    dead_letter_path: Optional[str]
    validate: bool
    count_tables: bool
    read_buffer_size: int
    start_offset: int
    task: str
    validate_threads: int
    pipe_size: int
    zero_copy: bool
    batch_scheduling: bool
    legacy_logs: bool
    forward_checkpoints: bool
    input_pid: Optional[int]

    def __new__(
        cls,
        *,
        max_frame_size: int = ...,
        policy: Policy = "fail",
        dead_letter_path: Optional[str] = None,
        validate: bool = True,
        count_tables: bool = True,
        read_buffer_size: int = 1 << 18,
        start_offset: int = 0,
        task: str = ...,
        validate_threads: int = 1,
        pipe_size: int = 1 << 20,
        zero_copy: bool = True,
        batch_scheduling: bool = True,
        legacy_logs: bool = False,
        forward_checkpoints: bool = True,
        input_pid: Optional[int] = None,
    ) -> Self: ...

@final
class Counters:
    """A consistent snapshot of a pump's counters: one attribute per name of COUNTERS."""

    frames: int  # valid frames forwarded (data + checkpoints)
    bytes: int  # bytes forwarded, newlines included
    data_frames: int
    checkpoint_frames: int
    invalid_frames: int  # skipped + dead_lettered, + those that failed a run
    skipped: int
    dead_lettered: int
    bytes_read: int  # bytes taken from the input, prefix included
    log_lines: int  # a legacy input's stdout lines taken as its log (legacy_logs)
    checkpoints_withheld: int  # checkpoint frames not written (forward_checkpoints=False)
    # checkpoint frames not written while MAX_IN_FLIGHT_CHECKPOINTS awaited acknowledgement
    checkpoints_coalesced: int
    # data frames per metadata.TableName (when count_tables; names decoded from JSON; at
    # most 4096 distinct names, data frames of further ones count under "(other tables)")
    tables: dict[str, int]
    def as_dict(self) -> dict[str, object]: ...

@final
class PumpResult:
    outcome: Outcome
    counters: Counters
    # what went wrong, for every outcome but "eof", "stopped" and "deadline_passed"
    message: Optional[str]
    offset: Optional[int]  # stream offset of the offending frame
    excerpt: Optional[bytes]  # its first bytes (at most 120)
    oversized: bool  # that frame was longer than max_frame_size (not some other fault)
    torn: Optional[tuple[int, int]]  # (stream offset, length) of a dropped torn last line
    # Bytes of the input read (or peeked at) after the last one the run dealt with
    # (forwarded, skipped, dead-lettered, withheld, or the invalid frame that failed it):
    # never delivered; some may still be in the input pipe.
    undealt: int
    # Bytes at the head of the input pipe already read: zero-copy peeks and consumes
    # bytes only once forwarded or dropped. Never delivered of the input: FIONREAD of
    # its pipe - peeked + undealt.
    peeked: int

@final
class Pump:
    """Moves frames from input_fd to output_fd until input EOF, stop() or an error.

    `prefix` holds bytes already read from input_fd (a legacy provider's first line and
    whatever followed it in the same read); they are framed before anything else.
    The pump neither closes nor owns the fds.

    Framing: frames end with "\n"; a "\r" before it is dropped; lines of only
    whitespace are skipped; a last line without "\n" at EOF is a frame (unless the
    input crashed: see PumpOptions.input_pid). Valid frames are
    written "\n"-terminated, byte for byte otherwise.

    On Unix the fds are switched to O_NONBLOCK for the duration of run() (their flags
    are restored before it returns) and every wait is a poll(2) that stop() interrupts.
    On Windows the fds stay blocking: stop() takes effect at the next read or write.
    """

    def __new__(
        cls, input_fd: int, output_fd: int, options: PumpOptions, prefix: bytes = ...
    ) -> Self: ...
    def run(self) -> PumpResult:
        """Blocks until the stream ends. Releases the GIL. May be called once (RuntimeError
        after that). Run from the main thread, Ctrl-C stops the pump (dead-letter file
        fsynced, fd flags restored) and then raises KeyboardInterrupt.

        The result's counters count a frame as forwarded once the write carrying it has
        returned; with outcome "invalid_frame" every frame before the offending one has
        been written."""
    def stop(self) -> None:
        """Thread-safe: makes run() return promptly with outcome "stopped"."""
    def end_input(self) -> None:
        """Thread-safe: from now on the first read that finds the input empty ends the
        stream as its EOF would (outcome "eof" once the output took everything): what
        input_fd already holds is still read and forwarded. For an input that exited
        while something it started keeps its write end open. Unix only (on Windows the
        reads block: it takes effect at the input's real EOF)."""
    def set_deadline(self, deadline: Optional[float]) -> None:
        """Thread-safe: from `deadline` on (seconds on time.monotonic()'s clock, which the
        core reads itself: CLOCK_MONOTONIC on Linux) nothing more is written to output_fd,
        whatever input_fd holds, and run() ends with outcome "deadline_passed" (as after
        stop(): nothing is flushed). It is checked before each write (one clock read per
        batch, never per frame), and run() waiting on an idle input or a full output
        wakes up for it. Only a write already under way when it passed completes (one
        batch: the frames of one read). None (the start value): no deadline.
        It may be moved either way while run() is in progress (a lease renewed moves it
        on). On Windows the reads block: it is seen at the next read or write, as stop()
        is. ValueError for a value that is not finite."""
    def counters(self) -> Counters:
        """Thread-safe live snapshot while run() is in progress."""
    def output_stalled_for(self) -> Optional[float]:
        """Thread-safe: seconds run() has been waiting for the output to take bytes it
        has for it (output_fd full: the reader reads nothing), since the last write that
        took any; None while it does not wait on the output (and before and after run()).
        The pump stores the start of a stall when it begins to wait, never per frame:
        this read is the only cost, paid by whoever shows it."""
    def take_checkpoints(self) -> list[bytes]:
        """Checkpoint values (the exact bytes of each frame's `checkpoint` member, no
        whitespace around them) queued for the output since the last call, in stream
        order. They are handed out before the write that carries them returns, so an
        acknowledgement can never arrive for one not yet taken here. Thread-safe."""
    def acknowledged(self, count: int) -> None:
        """Thread-safe: `count` more of the checkpoints take_checkpoints() handed out were
        matched to acknowledgements (one covers those before it). At most
        MAX_IN_FLIGHT_CHECKPOINTS handed out are not: while there are that many, the
        pump forwards no checkpoint frame and holds the newest back (the others count in
        checkpoints_coalesced); it forwards that one once this makes room, after the
        frames that followed it, or at the end of the stream whatever the count. The input
        is never blocked for it."""
    def set_forward_checkpoints(self, forward: bool) -> None:
        """Thread-safe: whether checkpoint frames queued from now on are written (the
        start value is options.forward_checkpoints)."""
    def take_log_lines(self) -> list[tuple[bytes, int]]:
        """A legacy input's log lines (legacy_logs) read since the last call, no newline:
        (its first bytes, its whole length); at most 1024 are held between calls (all
        are counted), each cut at 8 KiB, and one longer than max_frame_size at that
        (it is a log line all the same, never an invalid frame). Thread-safe."""
    def take_status_lines(self) -> list[tuple[int, bytes]]:
        """A legacy input's frames (legacy_logs) that may be a status line, read since the
        last call: (stream offset, frame), each delivered like any other frame. Of its
        first 16 frames without `data`, those with a `"status"` key in any case (at most
        64 KiB each); runtime/legacy.py decides. Thread-safe."""

def find(haystack: bytes, needle: bytes, start: int = 0, end: Optional[int] = None) -> int:
    """`haystack.find(needle, start, end)` (non-negative start and end; -1 when absent),
    with SIMD: several times faster than bytes.find on megabyte chunks. The SDK's raw
    output path scans every byte it reads with it, looking for checkpoint lines."""

def checkpoint_value(line: bytes) -> Optional[bytes]:
    """The exact bytes of the value of the top-level `checkpoint` member of `line` (no
    whitespace around it; the last one if the key repeats) when `line` is a valid JSON
    object with such a member, whatever other members it has; else None. A checkpoint
    is opaque: this is how an acknowledgement is compared with what was sent, and how
    a stored checkpoint is read back, without parsing it into numbers."""

PgoutputEvent = Literal["done", "relation", "fallback", "isolated"]

@final
class PgoutputSession:
    """One PostgreSQL replication session's pgoutput decoding (dstream-postgres-cdc):
    raw message payloads in, envelope and checkpoint lines out, byte for byte as the
    Python decoder (providers/postgres_cdc) writes them. No Python object per row.

    tables: the (schema, name) pairs captured; oids: the captured tables' OIDs (a renamed
    table is still captured by its OID); base_types: domain OID -> base type OID;
    resume_lsn: transactions whose final LSN is below it are skipped (already
    delivered); a checkpoint {"checkpoint":{"lsn","slot"[,"isolated"]}} follows the first
    commit after checkpoint_every changes or checkpoint_interval seconds, and idle();
    truncate_emit: Truncate envelopes are written here (else each Truncate falls back).
    """

    def __new__(
        cls,
        *,
        slot: str,
        tables: list[tuple[str, str]],
        base_types: dict[int, int],
        resume_lsn: int,
        checkpoint_every: int,
        checkpoint_interval: float,
        truncate_emit: bool,
        oids: list[int] = ...,
    ) -> Self: ...
    def feed(self, payloads: list[bytes], start: int = 0) -> tuple[int, PgoutputEvent]:
        """Handles payloads[start:] in order until the end ("done", index len) or an
        event: "relation" (index just past a Relation message), "isolated" (index just
        past a change of an isolated table, counted and not written: the caller keeps it
        or reports it lost) or "fallback": the message at the index is the caller's (the
        session is as before it); the caller handles it, push()es its lines and feeds on
        from index + 1."""
    def idle(self) -> None:
        """The stream is idle: checkpoint the last commit if no transaction is open."""
    def take(self) -> bytes:
        """The buffered lines (complete, newline-terminated); the buffer is emptied."""
    def push(self, lines: bytes, seq: int, changes: int) -> None:
        """Appends lines the caller encoded for a fallback message; they advance the
        transaction's Seq by `seq` and count `changes` toward the next checkpoint."""
    def isolate(self, table: str) -> None:
        """ "schema.name" is isolated: later changes are counted, not written, each
        reported as "isolated"; checkpoints list it. Counts one change."""
    def txn_meta(self) -> tuple[Optional[str], Optional[str], Optional[int]]:
        """(LSN, CommitTime, TransactionId) of the current transaction (None before one)."""
    def counters(self) -> dict[str, Any]:
        """changes, transactions, checkpoints, skipped_replayed, truncates: int;
        isolated: dict[str, int]."""
    @property
    def buffered(self) -> int: ...
    @property
    def in_txn(self) -> bool: ...
    @property
    def skip_txn(self) -> bool: ...
    @property
    def seq(self) -> int: ...
    @property
    def last_end_lsn(self) -> int: ...
    @property
    def last_checkpoint_lsn(self) -> int:
        """The LSN of the last checkpoint line written (0: none yet)."""

@final
class Fragment:
    """Raw JSON text that dumps() writes verbatim, unchecked (as orjson.Fragment).
    TypeError unless contents is exactly bytes or str (orjson refuses others only when
    writing); a str with a lone surrogate is refused when written."""

    def __new__(cls, contents: Union[bytes, str]) -> Self: ...
    @property
    def contents(self) -> Union[bytes, str]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def dumps(
    value: object,
    /,
    *,
    sort_keys: bool = False,
    indent: bool = False,
    non_str_keys: bool = False,
    default: Optional[Callable[[Any], object]] = None,  # Any: what the caller passes
) -> bytes:
    """`orjson.dumps(value, default=default, option=...)` byte for byte (3.13; flags are
    OPT_SORT_KEYS, OPT_INDENT_2, OPT_NON_STR_KEYS) for None, bool, int and its subclasses
    (IntEnum), float (NaN and infinities: null), str and its subclasses (str enums),
    dict and list and their subclasses, tuple, Fragment and enum members (their value);
    dstream's process encodes with it instead of importing orjson. Stored input digests
    hash this text: a changed byte re-keys every checkpoint.

    Differences from orjson: an int beyond 64 bits is written with all its digits (orjson
    refuses it); no container deeper than 1024 levels (orjson checks only lists and
    dicts, at exactly level 255, so tuples can take it deeper until it crashes); no
    native dataclass, datetime, date, time, UUID or numpy support: those go to `default`
    as float subclasses do (orjson does that for float subclasses too); a dict whose size
    a `default` call changes while it is written is a TypeError (orjson writes its first
    items).

    Anything else is `default(obj)`'s result (at most 255 nested calls), else TypeError
    "Type is not JSON serializable: <type>" (what default raised is its __cause__).
    Every error is a TypeError with orjson's message: "Dict key must be str" (a key not
    exactly str, unless non_str_keys: then str subclasses, int within 64 bits, bool,
    None, float and enum members are converted as orjson does), "str is not valid UTF-8:
    surrogates not allowed", "Recursion limit reached". Never releases the GIL (it
    does not block)."""

def die_with_parent() -> bool:
    """Linux: PR_SET_PDEATHSIG, so the kernel SIGKILLs this process when the thread that
    forked it exits; true when it took (false elsewhere). For a provider a warm start
    forks (dstream/warm.py), between fork and exec."""
