//! What a pump is asked to do: [`Options`], the invalid-frame [`Policy`] and the limits
//! the runtime can rely on.

use crate::error::Error;
use crate::frame::{DEFAULT_MAX_FRAME_SIZE, DEFAULT_READ_BUFFER_SIZE};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Bytes of an invalid frame quoted in a result.
pub const EXCERPT_LEN: usize = 120;
/// Legacy log lines held for [`super::Handle::take_log_lines`]; further ones are only
/// counted.
pub const MAX_HELD_LOG_LINES: usize = 1024;
/// Bytes of one legacy log line kept for the runtime's log.
pub const LOG_LINE_LEN: usize = 8192;
/// A legacy input's first frames without `data` looked at for a status line (see
/// [`super::Handle::take_status_lines`]); later ones are not.
pub const STATUS_LINE_WATCH: usize = 16;
/// The longest such frame held (a ready line may carry its config schema).
pub const STATUS_LINE_LEN: usize = 1 << 16;
/// Default for [`Options::pipe_size`].
pub const DEFAULT_PIPE_SIZE: usize = 1 << 20;
/// How long the pump waits, at EOF with an unterminated last line, for the input to
/// exit and tell whether that line is torn.
pub const TAIL_WAIT: Duration = Duration::from_secs(5);

/// What an invalid frame does. must match python/dstream/protocol/frames.py POLICIES
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Fail,
    Skip,
    DeadLetter,
}

impl FromStr for Policy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Policy, Error> {
        match s {
            "fail" => Ok(Policy::Fail),
            "skip" => Ok(Policy::Skip),
            "dead_letter" => Ok(Policy::DeadLetter),
            other => Err(Error::Config(format!(
                "unknown invalid-frame policy {other:?}: use \"fail\", \"skip\" or \"dead_letter\""
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub max_frame_size: usize,
    pub policy: Policy,
    pub dead_letter_path: Option<PathBuf>,
    pub validate: bool,
    pub count_tables: bool,
    pub read_buffer_size: usize,
    pub start_offset: u64,
    pub task: String,
    /// Threads validating one batch of frames (default 1; 0: one per CPU, at most 4).
    /// With more than one, the pump also reads ahead while input is immediately
    /// available (up to `read_buffer_size`) so that a batch is worth splitting. On a
    /// 2-CPU machine with the input and output processes competing for the same CPUs
    /// this was measured slower (thread hand-off per batch, burstier pipes), hence the
    /// default; it can pay where CPUs are spare.
    pub validate_threads: usize,
    /// Linux: grow the input and output pipes' kernel buffers to at least this many
    /// bytes (F_SETPIPE_SZ) for the run; 0 leaves them alone. Fewer, larger transfers
    /// between the processes: measured about 1.6x the throughput of 64 KiB pipes.
    pub pipe_size: usize,
    /// Linux, validating, one validation thread, input a pipe: forward valid frames
    /// from the input pipe with tee(2)/splice(2) instead of writing them from the
    /// buffer, one copy of every byte fewer (see [`crate::zerocopy`]). Output is
    /// byte-for-byte the same either way.
    pub zero_copy: bool,
    /// Linux: the thread running the pump is under SCHED_BATCH for the run (see
    /// [`crate::sys::BatchScheduling`]): measured, it keeps the input provider from
    /// being preempted at each of the pump's wake-ups on a busy machine.
    pub batch_scheduling: bool,
    /// The input is a legacy provider (no handshake), whose stdout may carry its log:
    /// an invalid line that does not start with `{` is a log line, counted and handed
    /// to [`super::Handle::take_log_lines`], whatever the policy. Valid frames take the
    /// same path as ever; only the invalid-frame branch looks at this.
    pub legacy_logs: bool,
    /// False: checkpoint frames are counted and withheld from the output (one that
    /// never acknowledges would take them for data). The start value: the runtime
    /// learns the output's kind from its handshake, which may come while the pump
    /// runs ([`super::Handle::set_forward_checkpoints`]).
    pub forward_checkpoints: bool,
    /// Linux: the pid of the input process, a child of the caller not yet reaped. At
    /// EOF with an unterminated last line the pump waits (up to [`TAIL_WAIT`]) for it
    /// to exit: when it crashed (killed by a signal, or exit code not 0) that line is a
    /// torn write, dropped and reported in [`super::PumpResult::torn`], neither a frame
    /// nor an invalid one. After a clean exit, or without a pid, it is the last frame.
    pub input_pid: Option<u32>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            policy: Policy::Fail,
            dead_letter_path: None,
            validate: true,
            count_tables: true,
            read_buffer_size: DEFAULT_READ_BUFFER_SIZE,
            start_offset: 0,
            task: String::new(),
            validate_threads: 1,
            pipe_size: DEFAULT_PIPE_SIZE,
            zero_copy: true,
            batch_scheduling: true,
            legacy_logs: false,
            forward_checkpoints: true,
            input_pid: None,
        }
    }
}

impl Options {
    pub fn check(&self) -> Result<(), Error> {
        if self.max_frame_size == 0 {
            return Err(Error::Config(
                "max_frame_size must be at least 1 byte".into(),
            ));
        }
        if self.read_buffer_size == 0 {
            return Err(Error::Config(
                "read_buffer_size must be at least 1 byte".into(),
            ));
        }
        if self.policy == Policy::DeadLetter && self.dead_letter_path.is_none() {
            return Err(Error::Config(
                "policy \"dead_letter\" needs dead_letter_path: set it to a file to append invalid frames to"
                    .into(),
            ));
        }
        Ok(())
    }
}
