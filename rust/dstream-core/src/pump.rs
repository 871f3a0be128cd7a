//! The pump: moves frames from an input fd to an output fd.
//!
//! One loop, resumable at every blocking point so that a caller can run it in time
//! slices ([`Pump::run_for`]) and check for signals in between:
//!
//! 1. if output is pending, write it (one `writev` for all frames of the last read);
//!    when it would block, poll the output and the wake fd;
//! 2. otherwise read once (up to `read_buffer_size`), frame + validate + classify +
//!    count every complete line of that read, and queue the valid ones as output
//!    segments. Contiguous valid frames form one segment, so a read of valid `\n`
//!    frames becomes exactly one write; `\r\n`, blank lines and invalid frames only
//!    split segments. Nothing is allocated per frame.
//!
//! Checkpoint values (the bytes of the value, not the frame) are handed to
//! [`Handle::take_checkpoints`] as soon as they are
//! queued for the output, before the write: an output may read and acknowledge one
//! while the rest of the same write is still in flight, and the runtime must already
//! know it was sent. Counters are published once per batch, and per-table counts
//! whenever the pump is about to wait for an idle input.
//!
//! Memory: the framer buffer (read_buffer_size + max_frame_size + 2 at most) and the
//! segment list; a slow output blocks reads, which blocks the input through its pipe.

use crate::counters::{Counters, Local, Snapshot};
use crate::deadletter::DeadLetter;
use crate::error::Error;
use crate::frame::{
    classify, human_size, FrameKind, DEFAULT_MAX_FRAME_SIZE, DEFAULT_READ_BUFFER_SIZE,
    KEY_CHECKPOINT,
};
use crate::framer::{Event, Framer};
use crate::sys::{self, Fd, Interest, NonBlockGuard, Wait, Waker};
use crate::validate::{self, validate_with, FastWalkGate, FrameInfo, Invalid};
#[cfg(target_os = "linux")]
use crate::zerocopy::ZeroCopy;
use std::io::{self, IoSlice};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bytes of an invalid frame quoted in a result.
pub const EXCERPT_LEN: usize = 120;
/// Legacy log lines held for [`Handle::take_log_lines`]; further ones are only counted.
pub const MAX_HELD_LOG_LINES: usize = 1024;
/// Bytes of one legacy log line kept for the runtime's log.
pub const LOG_LINE_LEN: usize = 8192;
/// Segment start marking the static "\n".
const NL: usize = usize::MAX;
/// Default for [`Options::pipe_size`].
pub const DEFAULT_PIPE_SIZE: usize = 1 << 20;
/// Smallest batch (bytes of frames) whose validation is split across threads.
const PAR_MIN_BYTES: usize = 64 * 1024;
/// Upper bound on validation threads.
const MAX_VALIDATE_THREADS: usize = 4;
/// How long the pump waits, at EOF with an unterminated last line, for the input to
/// exit and tell whether that line is torn.
pub const TAIL_WAIT: Duration = Duration::from_secs(5);
/// Bytes asked of one splice(2).
#[cfg(target_os = "linux")]
const SPLICE_LEN: usize = 1 << 20;

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
    /// to [`Handle::take_log_lines`], whatever the policy. Valid frames take the same
    /// path as ever; only the invalid-frame branch looks at this.
    pub legacy_logs: bool,
    /// False: checkpoint frames are counted and withheld from the output (one that
    /// never acknowledges would take them for data). The start value: the runtime
    /// learns the output's kind from its handshake, which may come while the pump
    /// runs ([`Handle::set_forward_checkpoints`]).
    pub forward_checkpoints: bool,
    /// Linux: the pid of the input process, a child of the caller not yet reaped. At
    /// EOF with an unterminated last line the pump waits (up to [`TAIL_WAIT`]) for it
    /// to exit: when it crashed (killed by a signal, or exit code not 0) that line is a
    /// torn write, dropped and reported in [`PumpResult::torn`], neither a frame nor an
    /// invalid one. After a clean exit, or without a pid, it is the last frame.
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

/// A legacy provider's log line: not an attempt at a frame (which starts with `{`).
fn is_log_line(raw: &[u8]) -> bool {
    raw.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b != b'{')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Eof,
    Stopped,
    InvalidFrame,
    OutputClosed,
    IoError,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Eof => "eof",
            Outcome::Stopped => "stopped",
            Outcome::InvalidFrame => "invalid_frame",
            Outcome::OutputClosed => "output_closed",
            Outcome::IoError => "io_error",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PumpResult {
    pub outcome: Outcome,
    pub counters: Snapshot,
    pub message: Option<String>,
    pub offset: Option<u64>,
    pub excerpt: Option<Vec<u8>>,
    /// (stream offset, length) of a crashed input's torn last line, dropped.
    pub torn: Option<(u64, u64)>,
}

struct Shared {
    counters: Counters,
    stop: AtomicBool,
    waker: Waker,
    checkpoints: Mutex<Vec<Vec<u8>>>,
    log_lines: Mutex<Vec<Vec<u8>>>,
    forward_checkpoints: AtomicBool,
}

/// Thread-safe handle on a pump: stop it, read its counters, take its checkpoints.
#[derive(Clone)]
pub struct Handle(Arc<Shared>);

impl Handle {
    /// Makes `run` return promptly with outcome `Stopped`.
    pub fn stop(&self) {
        self.0.stop.store(true, Ordering::Release);
        self.0.waker.wake();
    }

    pub fn counters(&self) -> Snapshot {
        self.0.counters.snapshot()
    }

    /// Checkpoint values (the exact bytes of each frame's `checkpoint` member) queued for
    /// the output since the last call, in stream order.
    pub fn take_checkpoints(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.0.checkpoints.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether checkpoint frames queued from now on are written to the output.
    pub fn set_forward_checkpoints(&self, forward: bool) {
        self.0.forward_checkpoints.store(forward, Ordering::Relaxed);
    }

    /// Legacy log lines ([`Options::legacy_logs`]) read since the last call.
    pub fn take_log_lines(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.0.log_lines.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Frames of the batch being written; added to the totals once written.
#[derive(Default)]
struct Batch {
    frames: u64,
    bytes: u64,
    data: u64,
    checkpoints: u64,
}

pub struct Pump {
    input: Fd,
    output: Fd,
    opts: Options,
    shared: Arc<Shared>,
    framer: Framer,
    fast_gate: FastWalkGate,
    /// Frames of the current batch: (start, end, nl, offset), then their verdicts.
    pending: Vec<(usize, usize, bool, u64)>,
    verdicts: Vec<Result<FrameInfo, Invalid>>,
    threads: usize,
    /// Bytes were read but not framed yet (reading ahead).
    unprocessed: bool,
    segs: Vec<(usize, usize)>,
    seg_idx: usize,
    seg_off: usize,
    batch: Batch,
    cps: Vec<(usize, usize)>,
    local: Local,
    dl: Option<DeadLetter>,
    over_excerpt: Vec<u8>,
    guards: Option<(NonBlockGuard, NonBlockGuard)>,
    #[cfg(target_os = "linux")]
    scheduling: Option<sys::BatchScheduling>,
    started: bool,
    eof: bool,
    deferred: Option<Error>,
    #[cfg(target_os = "linux")]
    splice_ok: bool,
    #[cfg(target_os = "linux")]
    zc: Option<ZeroCopy>,
    /// A pidfd of the input (see [`Options::input_pid`]), and when waiting on it ends.
    #[cfg(target_os = "linux")]
    input_exit: Option<sys::OwnedFd>,
    tail_wait: Option<Instant>,
    torn: Option<(u64, u64)>,
    result: Option<PumpResult>,
}

impl Pump {
    /// A pump from `input` to `output` (neither owned nor closed). `prefix` holds bytes
    /// already read from `input`; they are framed first.
    pub fn new(input: Fd, output: Fd, opts: Options, prefix: &[u8]) -> Result<Pump, Error> {
        opts.check()?;
        let waker = Waker::new().map_err(|e| Error::io("cannot create the pump's wake fd", e))?;
        let framer = Framer::new(
            opts.max_frame_size,
            opts.read_buffer_size,
            opts.start_offset,
            prefix,
        );
        let dl = match (opts.policy, &opts.dead_letter_path) {
            (Policy::DeadLetter, Some(p)) => Some(DeadLetter::new(p.clone(), opts.task.clone())),
            _ => None,
        };
        let threads = match opts.validate_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(MAX_VALIDATE_THREADS);
        let mut local = Local::default();
        local.bytes_read = prefix.len() as u64;
        Ok(Pump {
            input,
            output,
            shared: Arc::new(Shared {
                counters: Counters::default(),
                stop: AtomicBool::new(false),
                waker,
                checkpoints: Mutex::new(Vec::new()),
                log_lines: Mutex::new(Vec::new()),
                forward_checkpoints: AtomicBool::new(opts.forward_checkpoints),
            }),
            framer,
            fast_gate: FastWalkGate::default(),
            pending: Vec::new(),
            verdicts: Vec::new(),
            threads,
            unprocessed: false,
            segs: Vec::with_capacity(64),
            seg_idx: 0,
            seg_off: 0,
            batch: Batch::default(),
            cps: Vec::new(),
            local,
            dl,
            over_excerpt: Vec::new(),
            guards: None,
            #[cfg(target_os = "linux")]
            scheduling: None,
            started: false,
            eof: false,
            deferred: None,
            #[cfg(target_os = "linux")]
            splice_ok: !opts.validate,
            #[cfg(target_os = "linux")]
            zc: None,
            #[cfg(target_os = "linux")]
            input_exit: opts.input_pid.and_then(|pid| sys::pidfd_open(pid).ok()),
            tail_wait: None,
            torn: None,
            result: None,
            opts,
        })
    }

    pub fn handle(&self) -> Handle {
        Handle(self.shared.clone())
    }

    /// Whether the run forwards valid frames with tee(2)/splice(2) ([`Options::zero_copy`]
    /// and an input pipe; false again after a fallback); known once the run has started.
    pub fn zero_copy_active(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.zc.is_some();
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// Runs to the end.
    pub fn run(&mut self) -> PumpResult {
        loop {
            if let Some(r) = self.run_for(None) {
                return r;
            }
        }
    }

    /// Runs for about `slice` (None: until the end, resuming after EINTR). Returns None
    /// when the slice ended (or a signal interrupted a wait) before the run did.
    pub fn run_for(&mut self, slice: Option<Duration>) -> Option<PumpResult> {
        if let Some(r) = &self.result {
            return Some(r.clone());
        }
        let deadline = slice.map(|d| Instant::now() + d);
        let r = match self.start().and_then(|_| self.step(deadline)) {
            Ok(false) => return None,
            Ok(true) => Ok(()),
            Err(e) => Err(e),
        };
        Some(self.finish(r))
    }

    /// Ends the run now with outcome `Stopped` (e.g. on KeyboardInterrupt): flushes and
    /// fsyncs the dead-letter file and restores the fds' flags.
    pub fn abort(&mut self) -> PumpResult {
        if let Some(r) = &self.result {
            return r.clone();
        }
        self.finish(Err(Error::Stopped))
    }

    fn start(&mut self) -> Result<(), Error> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let gi = NonBlockGuard::new(self.input)
            .map_err(|e| Error::io(format!("input fd {} is not usable", self.input), e))?;
        let go = NonBlockGuard::new(self.output)
            .map_err(|e| Error::io(format!("output fd {} is not usable", self.output), e))?;
        self.guards = Some((gi, go));
        #[cfg(target_os = "linux")]
        if self.opts.batch_scheduling {
            self.scheduling = sys::BatchScheduling::enter();
        }
        if self.opts.pipe_size > 0 {
            sys::grow_pipe(self.input, self.opts.pipe_size);
            sys::grow_pipe(self.output, self.opts.pipe_size);
        }
        // reading ahead for several validation threads would peek the same bytes twice
        #[cfg(target_os = "linux")]
        if self.opts.validate && self.opts.zero_copy && self.threads == 1 {
            let size = self.opts.pipe_size.max(self.opts.read_buffer_size);
            self.zc = ZeroCopy::new(self.input, size, self.framer.filled());
        }
        self.process()
    }

    /// Returns Ok(true) at the end of input, Ok(false) when the slice is over.
    fn step(&mut self, deadline: Option<Instant>) -> Result<bool, Error> {
        loop {
            if self.shared.stop.load(Ordering::Acquire) {
                return Err(Error::Stopped);
            }
            if self.seg_idx < self.segs.len() {
                if self.write_some()? {
                    self.after_flush();
                    continue;
                }
                // a stalled output may stay stalled: show what was read meanwhile
                self.shared.counters.publish(&mut self.local, false);
                if !self.wait(self.output, Interest::Write, deadline)? {
                    return Ok(false);
                }
                continue;
            }
            if let Some(e) = self.deferred.take() {
                return Err(e);
            }
            if self.eof {
                return Ok(true);
            }
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Ok(false);
                }
            }
            #[cfg(target_os = "linux")]
            if self.splice_ok {
                if !self.splice_once(deadline)? {
                    return Ok(false);
                }
                continue;
            }
            match self.fill() {
                Ok(0) => {
                    if self.unprocessed {
                        // frame the complete lines first: what is left is the last one
                        self.unprocessed = false;
                        self.process()?;
                    }
                    if !self.tail_settled(deadline)? {
                        return Ok(false);
                    }
                    self.framer.set_eof();
                    self.eof = true;
                    self.process()?;
                }
                Ok(n) => {
                    self.framer.commit(n);
                    self.local.bytes_read += n as u64;
                    if self.opts.validate
                        && self.threads > 1
                        && self.framer.pending() < self.opts.read_buffer_size
                    {
                        // read ahead while the input has more: a bigger batch splits better
                        self.unprocessed = true;
                        continue;
                    }
                    self.unprocessed = false;
                    self.process()?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.unprocessed => {
                    self.unprocessed = false;
                    self.process()?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // An idle input may stay idle for hours: show exact counts meanwhile.
                    self.shared.counters.publish(&mut self.local, true);
                    if !self.wait(self.input, Interest::Read, deadline)? {
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if deadline.is_some() {
                        return Ok(false);
                    }
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("read from input fd {} failed", self.input),
                        e,
                    ))
                }
            }
        }
    }

    /// At EOF with an unterminated last line: waits (up to [`TAIL_WAIT`]) for the input
    /// to exit; when it crashed, that line is torn and dropped. Ok(false): the slice
    /// ended first (called again on the next EOF read).
    #[cfg(target_os = "linux")]
    fn tail_settled(&mut self, deadline: Option<Instant>) -> Result<bool, Error> {
        let (Some(pidfd), Some(pid)) = (&self.input_exit, self.opts.input_pid) else {
            return Ok(true);
        };
        let Some((offset, true)) = self.framer.tail().filter(|_| self.opts.validate) else {
            return Ok(true);
        };
        let limit = *self
            .tail_wait
            .get_or_insert_with(|| Instant::now() + TAIL_WAIT);
        let until = deadline.map_or(limit, |d| d.min(limit));
        let timeout = until.saturating_duration_since(Instant::now());
        match sys::wait(pidfd.0, Interest::Read, &self.shared.waker, Some(timeout)) {
            Ok(Wait::Woken) => return Err(Error::Stopped),
            Ok(Wait::Ready) => {}
            Ok(Wait::Timeout | Wait::Interrupted) => return Ok(Instant::now() >= limit),
            Err(_) => return Ok(true),
        }
        if sys::child_crashed(pid) == Some(true) {
            self.torn = Some((offset, self.framer.pending() as u64));
            self.framer.discard_tail();
        }
        Ok(true)
    }

    #[cfg(not(target_os = "linux"))]
    fn tail_settled(&mut self, _deadline: Option<Instant>) -> Result<bool, Error> {
        Ok(true)
    }

    /// Reads the next bytes of input into the framer (zero-copy: peeks at them, after
    /// consuming what was peeked before, so that the input pipe starts with new bytes).
    fn fill(&mut self) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if let Some(zc) = self.zc.as_mut() {
            let held = self.framer.filled() - zc.taken;
            if held > 0 {
                zc.drop_bytes(self.input, held)?;
            }
            self.framer.spare(); // may move the partial frame to the front
            zc.taken = self.framer.filled();
            match zc.peek(self.input, self.framer.spare()) {
                // a kernel or sandbox without tee(2) for these pipes: everything peeked
                // so far is consumed, so reading and writing can take over from here
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                    self.zc = None;
                }
                r => return r,
            }
        }
        sys::read(self.input, self.framer.spare())
    }

    /// Waits for `fd`; Ok(false) on timeout or signal, Err(Stopped) when woken.
    fn wait(&self, fd: Fd, interest: Interest, deadline: Option<Instant>) -> Result<bool, Error> {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match sys::wait(fd, interest, &self.shared.waker, timeout) {
            Ok(Wait::Ready) => Ok(true),
            Ok(Wait::Woken) => Err(Error::Stopped),
            Ok(Wait::Timeout) => Ok(false),
            Ok(Wait::Interrupted) => Ok(deadline.is_none()),
            Err(e) => Err(Error::io("poll failed", e)),
        }
    }

    #[cfg(target_os = "linux")]
    fn splice_once(&mut self, deadline: Option<Instant>) -> Result<bool, Error> {
        match sys::splice(self.input, self.output, SPLICE_LEN) {
            Ok(0) => {
                self.eof = true;
                Ok(true)
            }
            Ok(n) => {
                self.local.bytes_read += n as u64;
                self.local.bytes += n as u64;
                self.shared.counters.publish(&mut self.local, false);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !sys::ready_now(self.output, Interest::Write) {
                    self.wait(self.output, Interest::Write, deadline)
                } else {
                    self.wait(self.input, Interest::Read, deadline)
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(deadline.is_none()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) => {
                // neither fd is a pipe (or splice is unavailable): plain read/write
                self.splice_ok = false;
                Ok(true)
            }
            Err(e) if sys::is_broken_pipe(&e) => Err(self.output_closed()),
            Err(e) => Err(Error::io(
                format!(
                    "splice from input fd {} to output fd {} failed",
                    self.input, self.output
                ),
                e,
            )),
        }
    }

    fn output_closed(&self) -> Error {
        Error::OutputClosed {
            context: format!(
                "the output closed its input (EPIPE writing to fd {}) after {} frames ({} bytes) had been forwarded",
                self.output, self.local.frames, self.local.bytes
            ),
        }
    }

    #[inline]
    fn push_seg(&mut self, start: usize, end: usize) {
        if let Some(last) = self.segs.last_mut() {
            if last.0 != NL && last.0 + last.1 == start {
                last.1 += end - start;
                return;
            }
        }
        self.segs.push((start, end - start));
    }

    /// Frames everything buffered and queues the output.
    fn process(&mut self) -> Result<(), Error> {
        if !self.opts.validate {
            let (a, b) = self.framer.take_raw();
            if b > a {
                self.push_seg(a, b);
                self.batch.bytes += (b - a) as u64;
            }
        } else {
            // One validation thread: each frame is validated as it is framed (no batch
            // of pending frames to fill and read back), after one UTF-8 check of every
            // complete line at once.
            let inline = self.threads < 2;
            let utf8_end = if inline {
                self.framer.utf8_lines_end()
            } else {
                0
            };
            // Whether the frame next_event finds goes to the strict walk alone.
            let mut refused = false;
            loop {
                if inline {
                    if let Some((start, end, nl, info)) = self.fast_frame(utf8_end, &mut refused) {
                        self.frame(start, end, nl, info);
                        if self.deferred.is_some() {
                            break;
                        }
                        continue;
                    }
                }
                let Some(ev) = self.framer.next_event() else {
                    break;
                };
                match ev {
                    Event::Frame {
                        start,
                        end,
                        nl,
                        offset,
                    } if inline => {
                        let frame = &self.framer.buf()[start..end];
                        let utf8_checked = end <= utf8_end;
                        let verdict = if refused {
                            validate::validate_refused(frame, utf8_checked)
                        } else {
                            validate_with(frame, utf8_checked)
                        };
                        match verdict {
                            Ok(info) => self.frame(start, end, nl, info),
                            Err(inv) => self.invalid(offset, inv.to_string(), start, end)?,
                        }
                    }
                    Event::Frame {
                        start,
                        end,
                        nl,
                        offset,
                    } => self.pending.push((start, end, nl, offset)),
                    Event::Oversized {
                        start,
                        end,
                        offset,
                        first,
                        last,
                        total,
                    } => {
                        self.apply_pending()?;
                        if self.deferred.is_some() {
                            break;
                        }
                        self.oversized(start, end, offset, first, last, total)?;
                    }
                }
                if self.deferred.is_some() {
                    break;
                }
            }
            if self.deferred.is_none() {
                self.apply_pending()?;
            }
            self.pending.clear();
        }
        self.hand_out_checkpoints();
        if self.segs.is_empty() {
            self.after_flush();
        }
        Ok(())
    }

    /// The next frame when the fast walk takes it: framed by the walk, without a search
    /// for its newline. Otherwise None, and `refused` says whether the frame
    /// [`Framer::next_event`] finds next should skip the fast walk: it was refused at
    /// that position or not tried (the gate closed; at worst a frame after a skipped
    /// blank line is sent to the strict walk too, which is as correct, barely slower).
    #[inline(always)]
    fn fast_frame(
        &mut self,
        utf8_end: usize,
        refused: &mut bool,
    ) -> Option<(usize, usize, bool, FrameInfo)> {
        *refused = true;
        if !self.fast_gate.open() {
            return None;
        }
        let gate = &mut self.fast_gate;
        self.framer.next_parsed(utf8_end, |b| {
            let taken = validate::fast_prefix(b);
            gate.record(taken.is_some());
            *refused = taken.is_none();
            taken
        })
    }

    /// Validates the batch of frames (split across threads when it pays), then queues
    /// the valid ones and handles the invalid ones, in stream order.
    fn apply_pending(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.validate_pending();
        for i in 0..self.pending.len() {
            let (start, end, nl, offset) = self.pending[i];
            match self.verdicts[i] {
                Ok(info) => self.frame(start, end, nl, info),
                Err(inv) => {
                    self.invalid(offset, inv.to_string(), start, end)?;
                    if self.deferred.is_some() {
                        break;
                    }
                }
            }
        }
        self.pending.clear();
        Ok(())
    }

    fn validate_pending(&mut self) {
        let buf = self.framer.buf();
        let pending = &self.pending[..];
        let verdicts = &mut self.verdicts;
        verdicts.clear();
        let (lo, hi) = (pending[0].0, pending[pending.len() - 1].1);
        let bytes = hi - lo;
        // one UTF-8 check for the whole batch (most are valid); per frame otherwise
        let utf8 = simdutf8::basic::from_utf8(&buf[lo..hi]).is_ok();
        let validate = |f: &[u8]| validate_with(f, utf8);
        if self.threads < 2 || bytes < PAR_MIN_BYTES || pending.len() < 2 * self.threads {
            verdicts.extend(pending.iter().map(|&(s, e, _, _)| validate(&buf[s..e])));
            return;
        }
        let check = |p: &[(usize, usize, bool, u64)], out: &mut [Result<FrameInfo, Invalid>]| {
            for (&(s, e, _, _), v) in p.iter().zip(out.iter_mut()) {
                *v = validate(&buf[s..e]);
            }
        };
        verdicts.resize(pending.len(), Ok(FrameInfo::default()));
        let per = pending.len().div_ceil(self.threads);
        let mut failed = [false; MAX_VALIDATE_THREADS];
        std::thread::scope(|sc| {
            let mut chunks = pending
                .chunks(per)
                .zip(verdicts.chunks_mut(per))
                .enumerate();
            let Some((_, (p0, v0))) = chunks.next() else {
                return;
            };
            for (k, (p, v)) in chunks {
                let spawned = std::thread::Builder::new()
                    .name("dstream-validate".into())
                    .spawn_scoped(sc, move || check(p, v));
                failed[k] = spawned.is_err();
            }
            check(p0, v0);
        });
        // a thread that could not be created: its chunk is validated here
        for (k, _) in failed.iter().enumerate().filter(|(_, f)| **f) {
            let lo = k * per;
            let hi = (lo + per).min(pending.len());
            check(&pending[lo..hi], &mut verdicts[lo..hi]);
        }
    }

    #[inline(always)]
    fn frame(&mut self, start: usize, end: usize, nl: bool, info: FrameInfo) {
        let kind = classify(&info);
        if kind == FrameKind::Checkpoint && !self.shared.forward_checkpoints.load(Ordering::Relaxed)
        {
            self.local.checkpoints_withheld += 1;
            return;
        }
        if nl {
            self.push_seg(start, end + 1);
        } else {
            self.push_seg(start, end);
            self.segs.push((NL, 1));
        }
        self.batch.frames += 1;
        self.batch.bytes += (end - start + 1) as u64;
        match kind {
            FrameKind::Checkpoint => {
                self.batch.checkpoints += 1;
                // the value's own bytes: a checkpoint is opaque (see validate::member)
                let frame = &self.framer.buf()[start..end];
                if let Some((a, b)) = validate::member(frame, KEY_CHECKPOINT) {
                    self.cps.push((start + a, start + b));
                }
            }
            FrameKind::Data => {
                self.batch.data += 1;
                if self.opts.count_tables {
                    if let Some((a, b)) = info.table {
                        self.local
                            .count_table(&self.framer.buf()[start + a..start + b]);
                    }
                }
            }
        }
    }

    fn invalid(
        &mut self,
        offset: u64,
        reason: String,
        start: usize,
        end: usize,
    ) -> Result<(), Error> {
        let raw = &self.framer.buf()[start..end];
        if self.opts.legacy_logs && is_log_line(raw) {
            self.local.log_lines += 1;
            let mut held = self
                .shared
                .log_lines
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if held.len() < MAX_HELD_LOG_LINES {
                held.push(raw[..raw.len().min(LOG_LINE_LEN)].to_vec());
            }
            return Ok(());
        }
        self.local.invalid_frames += 1;
        match self.opts.policy {
            Policy::Fail => {
                self.deferred = Some(Error::InvalidFrame {
                    message: reason,
                    offset,
                    excerpt: raw[..raw.len().min(EXCERPT_LEN)].to_vec(),
                });
            }
            Policy::Skip => self.local.skipped += 1,
            Policy::DeadLetter => {
                if let Some(dl) = self.dl.as_mut() {
                    dl.record(offset, &reason, raw)?;
                }
                self.local.dead_lettered += 1;
            }
        }
        Ok(())
    }

    fn oversized(
        &mut self,
        start: usize,
        end: usize,
        offset: u64,
        first: bool,
        last: bool,
        total: u64,
    ) -> Result<(), Error> {
        let max = self.opts.max_frame_size as u64;
        let piece = &self.framer.buf()[start..end];
        if first {
            self.over_excerpt.clear();
            self.over_excerpt
                .extend_from_slice(&piece[..piece.len().min(EXCERPT_LEN)]);
            if let Some(dl) = self.dl.as_mut() {
                dl.begin_stream(
                    offset,
                    &format!("frame exceeds max_frame_size {}", human_size(max)),
                )?;
            }
        }
        if let Some(dl) = self.dl.as_mut() {
            dl.stream(piece)?;
        }
        if last {
            self.local.invalid_frames += 1;
            match self.opts.policy {
                Policy::Fail => {
                    self.deferred = Some(Error::InvalidFrame {
                        message: format!(
                            "frame of {} exceeds max_frame_size {}",
                            human_size(total),
                            human_size(max)
                        ),
                        offset,
                        excerpt: std::mem::take(&mut self.over_excerpt),
                    });
                }
                Policy::Skip => self.local.skipped += 1,
                Policy::DeadLetter => {
                    if let Some(dl) = self.dl.as_mut() {
                        dl.end_stream()?;
                    }
                    self.local.dead_lettered += 1;
                }
            }
        }
        Ok(())
    }

    /// Writes queued segments; Ok(true) when all are written, Ok(false) on EAGAIN.
    fn write_some(&mut self) -> Result<bool, Error> {
        const MAX_IOV: usize = 64;
        loop {
            if self.seg_idx >= self.segs.len() {
                return Ok(true);
            }
            // zero-copy: bytes from `taken` on are still in the input pipe
            #[allow(unused_mut)]
            let mut taken = usize::MAX;
            #[cfg(target_os = "linux")]
            if let Some(zc) = &self.zc {
                let s = self.segs[self.seg_idx].0;
                if s != NL && s + self.seg_off >= zc.taken {
                    if self.splice_seg()? {
                        continue;
                    }
                    return Ok(false);
                }
                taken = zc.taken;
            }
            let buf = self.framer.buf();
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let mut n = 0;
            let mut off = self.seg_off;
            for &(s, l) in &self.segs[self.seg_idx..] {
                if n == MAX_IOV {
                    break;
                }
                if s == NL {
                    iov[n] = IoSlice::new(&b"\n"[off..]);
                } else {
                    let (a, b) = (s + off, (s + l).min(taken));
                    if a >= b {
                        break;
                    }
                    iov[n] = IoSlice::new(&buf[a..b]);
                    if b < s + l {
                        n += 1;
                        break;
                    }
                }
                off = 0;
                n += 1;
            }
            match sys::writev(self.output, &iov[..n]) {
                Ok(0) => {
                    return Err(Error::io(
                        format!("write to output fd {} failed", self.output),
                        io::Error::from(io::ErrorKind::WriteZero),
                    ))
                }
                Ok(mut k) => {
                    while k > 0 {
                        let l = self.segs[self.seg_idx].1 - self.seg_off;
                        if k >= l {
                            k -= l;
                            self.seg_idx += 1;
                            self.seg_off = 0;
                        } else {
                            self.seg_off += k;
                            k = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if sys::is_broken_pipe(&e) => return Err(self.output_closed()),
                Err(e) => {
                    return Err(Error::io(
                        format!("write to output fd {} failed", self.output),
                        e,
                    ))
                }
            }
        }
    }

    /// Zero-copy: moves the rest of the current segment from the input pipe to the
    /// output, after dropping whatever the pipe holds before it. Ok(false): output full.
    #[cfg(target_os = "linux")]
    fn splice_seg(&mut self) -> Result<bool, Error> {
        let Some(zc) = self.zc.as_mut() else {
            return Ok(true);
        };
        let (s, l) = self.segs[self.seg_idx];
        let pos = s + self.seg_off;
        if pos > zc.taken {
            zc.drop_bytes(self.input, pos - zc.taken)
                .map_err(|e| Error::io(format!("read from input fd {} failed", self.input), e))?;
            zc.taken = pos;
        }
        match sys::splice(self.input, self.output, s + l - pos) {
            Ok(0) => Err(Error::io(
                format!("splice from input fd {} returned no data", self.input),
                io::Error::from(io::ErrorKind::UnexpectedEof),
            )),
            Ok(k) => {
                zc.taken += k;
                self.seg_off += k;
                if self.seg_off == l {
                    self.seg_idx += 1;
                    self.seg_off = 0;
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) if sys::is_broken_pipe(&e) => Err(self.output_closed()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                // splice refused for these pipes: consume what the buffer already holds
                // and write it from there, as without zero-copy
                let held = self.framer.filled() - zc.taken;
                zc.drop_bytes(self.input, held).map_err(|e| {
                    Error::io(format!("read from input fd {} failed", self.input), e)
                })?;
                self.zc = None;
                Ok(true)
            }
            Err(e) => Err(Error::io(
                format!(
                    "splice from input fd {} to output fd {} failed",
                    self.input, self.output
                ),
                e,
            )),
        }
    }

    /// The checkpoints of the batch just queued become visible to the runtime.
    fn hand_out_checkpoints(&mut self) {
        if !self.cps.is_empty() {
            let buf = self.framer.buf();
            let mut q = self
                .shared
                .checkpoints
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for &(a, b) in &self.cps {
                q.push(buf[a..b].to_vec());
            }
            drop(q);
            self.cps.clear();
        }
    }

    /// Everything queued was written: commit counts, publish.
    fn after_flush(&mut self) {
        let b = std::mem::take(&mut self.batch);
        self.local.frames += b.frames;
        self.local.bytes += b.bytes;
        self.local.data_frames += b.data;
        self.local.checkpoint_frames += b.checkpoints;
        self.segs.clear();
        self.seg_idx = 0;
        self.seg_off = 0;
        self.shared.counters.publish(&mut self.local, false);
    }

    fn finish(&mut self, mut r: Result<(), Error>) -> PumpResult {
        if let Some(dl) = self.dl.as_mut() {
            if let Err(e) = dl.finish() {
                if matches!(r, Ok(()) | Err(Error::Stopped)) {
                    r = Err(e);
                }
            }
        }
        self.guards = None;
        #[cfg(target_os = "linux")]
        {
            self.scheduling = None;
        }
        self.shared.counters.publish(&mut self.local, true);
        let counters = self.shared.counters.snapshot();
        let (outcome, message, offset, excerpt) = match r {
            Ok(()) => (Outcome::Eof, None, None, None),
            Err(Error::Stopped) => (Outcome::Stopped, None, None, None),
            Err(Error::InvalidFrame {
                message,
                offset,
                excerpt,
            }) => (
                Outcome::InvalidFrame,
                Some(message),
                Some(offset),
                Some(excerpt),
            ),
            Err(e @ Error::OutputClosed { .. }) => {
                (Outcome::OutputClosed, Some(e.to_string()), None, None)
            }
            Err(e) => (Outcome::IoError, Some(e.to_string()), None, None),
        };
        let res = PumpResult {
            outcome,
            counters,
            message,
            offset,
            excerpt,
            torn: self.torn,
        };
        self.result = Some(res.clone());
        res
    }
}
