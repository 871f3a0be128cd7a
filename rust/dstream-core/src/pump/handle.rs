//! What other threads see of a pump: the [`Handle`] (stop, deadline, counters,
//! checkpoints, log and status lines) and how a run ended ([`PumpResult`]).

use crate::counters::{Counters, Snapshot};
use crate::error::Error;
use crate::sys::{self, Waker};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Eof,
    Stopped,
    /// The deadline of [`Handle::set_deadline`] passed.
    DeadlinePassed,
    InvalidFrame,
    OutputClosed,
    /// The dead-letter file could not be written ([`Error::DeadLetter`]).
    DeadLetterFailed,
    IoError,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Eof => "eof",
            Outcome::Stopped => "stopped",
            Outcome::DeadlinePassed => "deadline_passed",
            Outcome::InvalidFrame => "invalid_frame",
            Outcome::OutputClosed => "output_closed",
            Outcome::DeadLetterFailed => "dead_letter_failed",
            Outcome::IoError => "io_error",
        }
    }
}

/// A crashed input's torn last line, dropped (see [`super::Options::input_pid`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Torn {
    /// Stream offset of its first byte.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
}

#[derive(Debug, Clone)]
pub struct PumpResult {
    pub outcome: Outcome,
    pub counters: Snapshot,
    pub message: Option<String>,
    pub offset: Option<u64>,
    pub excerpt: Option<Vec<u8>>,
    /// The invalid frame that ended the run was longer than max_frame_size.
    pub oversized: bool,
    pub torn: Option<Torn>,
    /// Bytes of the input the run read (or peeked at) after the last one it dealt with
    /// (forwarded, skipped, dead-lettered, withheld, or reported as the invalid frame
    /// that ended it): never delivered. Some of them may still be in the input pipe
    /// (`peeked`).
    pub undealt: u64,
    /// Bytes at the head of the input pipe the run already read: zero-copy peeks at the
    /// pipe and consumes bytes only once it forwards or drops them (0 when copying).
    /// The input's bytes never delivered: the pipe's fill level (FIONREAD) - `peeked` +
    /// `undealt`.
    pub peeked: u64,
}

/// The state a pump shares with its [`Handle`]s.
pub(super) struct Shared {
    pub(super) counters: Counters,
    pub(super) stop: AtomicBool,
    /// [`Handle::set_deadline`]'s, in nanoseconds on [`sys::monotonic`]'s clock; 0: none.
    deadline: AtomicU64,
    pub(super) waker: Waker,
    pub(super) checkpoints: Mutex<Vec<Vec<u8>>>,
    /// Checkpoints handed out that the runtime matched to acknowledgements
    /// ([`Handle::acknowledged`]); with [`Shared::holding`], SeqCst both: a pump that
    /// holds a checkpoint back for want of room either sees the acknowledgement that
    /// makes room, or is woken by it.
    acknowledged: AtomicU64,
    /// Whether the pump holds a checkpoint back until there is room (super::checkpoints).
    holding: AtomicBool,
    /// (the line's first bytes, its whole length without `\n`): see [`Handle::take_log_lines`].
    pub(super) log_lines: Mutex<Vec<(Vec<u8>, u64)>>,
    pub(super) status_lines: Mutex<Vec<(u64, Vec<u8>)>>,
    pub(super) forward_checkpoints: AtomicBool,
    pub(super) input_ended: AtomicBool,
    /// Since when (nanoseconds on [`sys::monotonic`]'s clock) the pump has been waiting
    /// for the output to take bytes it could not write; 0: not waiting. Stored when a
    /// wait on the output begins and when the output takes bytes again, never per frame.
    output_stalled_at: AtomicU64,
}

impl Shared {
    pub(super) fn new(waker: Waker, forward_checkpoints: bool) -> Shared {
        Shared {
            counters: Counters::default(),
            stop: AtomicBool::new(false),
            deadline: AtomicU64::new(0),
            waker,
            checkpoints: Mutex::new(Vec::new()),
            acknowledged: AtomicU64::new(0),
            holding: AtomicBool::new(false),
            log_lines: Mutex::new(Vec::new()),
            status_lines: Mutex::new(Vec::new()),
            forward_checkpoints: AtomicBool::new(forward_checkpoints),
            input_ended: AtomicBool::new(false),
            output_stalled_at: AtomicU64::new(0),
        }
    }

    /// The pump begins to wait on the output (at `at` on [`sys::monotonic`]'s clock).
    pub(super) fn output_stalled(&self, at: Duration) {
        // 0 means none: a stall since the clock's origin is one since just after
        let nanos = at.as_nanos().clamp(1, u64::MAX as u128) as u64;
        self.output_stalled_at.store(nanos, Ordering::Relaxed);
    }

    /// The output took bytes again (or the run ended).
    pub(super) fn output_moved(&self) {
        self.output_stalled_at.store(0, Ordering::Relaxed);
    }

    pub(super) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// How long until the deadline (zero once it passed); None without one. Reads the
    /// clock only when there is a deadline: a pump without one pays one atomic load.
    #[inline]
    pub(super) fn until_deadline(&self) -> Option<Duration> {
        let at = self.deadline.load(Ordering::Acquire);
        if at == 0 {
            return None;
        }
        Some(Duration::from_nanos(at).saturating_sub(sys::monotonic()))
    }

    /// Whether the deadline passed.
    #[inline]
    pub(super) fn deadline_passed(&self) -> bool {
        self.until_deadline().is_some_and(|left| left.is_zero())
    }

    /// How many checkpoints handed out were acknowledged.
    #[inline]
    pub(super) fn acknowledged(&self) -> u64 {
        self.acknowledged.load(Ordering::SeqCst)
    }

    pub(super) fn set_holding(&self, holding: bool) {
        self.holding.store(holding, Ordering::SeqCst);
    }

    pub(super) fn forwards_checkpoints(&self) -> bool {
        self.forward_checkpoints.load(Ordering::Relaxed)
    }

    pub(super) fn input_ended(&self) -> bool {
        self.input_ended.load(Ordering::Acquire)
    }

    /// The waker fired: Err(Stopped) for [`Handle::stop`]; for [`Handle::end_input`] and
    /// [`Handle::set_deadline`] the wake is taken back (waits block again) and the run
    /// goes on (and sees the new deadline).
    pub(super) fn woken(&self) -> Result<(), Error> {
        self.waker.drain();
        if self.stopped() {
            return Err(Error::Stopped);
        }
        Ok(())
    }
}

/// Thread-safe handle on a pump: stop it, give it a deadline, read its counters, take its
/// checkpoints.
#[derive(Clone)]
pub struct Handle(pub(super) Arc<Shared>);

impl Handle {
    /// Makes `run` return promptly with outcome `Stopped`.
    pub fn stop(&self) {
        self.0.stop.store(true, Ordering::Release);
        self.0.waker.wake();
    }

    /// Makes `run` forward nothing from `at` on (a point on [`sys::monotonic`]'s clock,
    /// the one Python's time.monotonic() reads) and end with outcome `DeadlinePassed`:
    /// it is checked before every write to the output (one clock read per batch, never
    /// per frame), and a run waiting on an idle input or a full output wakes up for it.
    /// Past it nothing more is written, whatever was read; only a write already under
    /// way when it passed completes. None: no deadline (the start value). It may move
    /// either way while the run streams (a lease renewed moves it on).
    pub fn set_deadline(&self, at: Option<Duration>) {
        // 0 means none: a deadline at the clock's origin is as passed as one just after
        let nanos = at.map_or(0, |d| d.as_nanos().clamp(1, u64::MAX as u128) as u64);
        let before = self.0.deadline.swap(nanos, Ordering::AcqRel);
        // A run waiting with a timeout at the old deadline wakes up at it anyway, and
        // then waits on to the new one: only an earlier deadline needs a wake now.
        if nanos != 0 && (before == 0 || nanos < before) {
            self.0.waker.wake();
        }
    }

    pub fn counters(&self) -> Snapshot {
        self.0.counters.snapshot()
    }

    /// How long the run has been waiting for the output to take bytes it has for it
    /// (its pipe is full: the output reads nothing, or too little); None while it is
    /// not waiting on the output. Read by whoever shows it, never by the pump.
    pub fn output_stalled_for(&self) -> Option<Duration> {
        let at = self.0.output_stalled_at.load(Ordering::Relaxed);
        if at == 0 {
            return None;
        }
        Some(sys::monotonic().saturating_sub(Duration::from_nanos(at)))
    }

    /// Checkpoint values (the exact bytes of each frame's `checkpoint` member) queued for
    /// the output since the last call, in stream order.
    pub fn take_checkpoints(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.0.checkpoints.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The runtime matched `count` more of the checkpoints [`Handle::take_checkpoints`]
    /// handed out to acknowledgements (an acknowledgement covers those before it): as
    /// many more may be in flight (see [`super::MAX_IN_FLIGHT_CHECKPOINTS`]). A pump
    /// that holds a checkpoint back for want of room is woken to forward it.
    pub fn acknowledged(&self, count: u64) {
        self.0.acknowledged.fetch_add(count, Ordering::SeqCst);
        if self.0.holding.load(Ordering::SeqCst) {
            self.0.waker.wake();
        }
    }

    /// Makes `run` end the stream the first time the input has nothing to read, as at
    /// EOF: what the input pipe already holds is still read and forwarded. For an input
    /// that exited while something it left behind keeps its write end open (Unix; on
    /// Windows reads block, so this takes effect only at the input's real EOF).
    pub fn end_input(&self) {
        self.0.input_ended.store(true, Ordering::Release);
        self.0.waker.wake();
    }

    /// Whether checkpoint frames queued from now on are written to the output.
    pub fn set_forward_checkpoints(&self, forward: bool) {
        self.0.forward_checkpoints.store(forward, Ordering::Relaxed);
    }

    /// Legacy log lines ([`super::Options::legacy_logs`]) read since the last call: each
    /// line's first bytes (at most [`super::LOG_LINE_LEN`], and max_frame_size for one
    /// longer than that) and its whole length, which says whether it was cut.
    pub fn take_log_lines(&self) -> Vec<(Vec<u8>, u64)> {
        std::mem::take(&mut *self.0.log_lines.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A legacy input's frames ([`super::Options::legacy_logs`]) that may be a status
    /// line, read since the last call: (stream offset, frame), each one delivered like
    /// any other frame. Which frames: see [`super::STATUS_LINE_WATCH`].
    pub fn take_status_lines(&self) -> Vec<(u64, Vec<u8>)> {
        std::mem::take(
            &mut *self
                .0
                .status_lines
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }
}
