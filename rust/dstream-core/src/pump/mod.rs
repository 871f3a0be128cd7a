//! The pump: moves frames from an input fd to an output fd.
//!
//! One loop, resumable at every blocking point so that a caller can run it in time
//! slices ([`Pump::run_for`]) and check for signals in between:
//!
//! 1. if output is pending, write it (one `writev` for all frames of the last read);
//!    when it would block, poll the output and the wake fd;
//! 2. otherwise read once (up to `read_buffer_size`), frame + validate + classify +
//!    count every complete line of that read, and queue the valid ones as output
//!    segments (`frames`).
//!
//! Each turn of that loop first checks the stop and the deadline
//! ([`Handle::set_deadline`]: a lease's local deadline): past it nothing more is
//! written, and every wait has a timeout at it, so a pump waiting on an idle input or a
//! full output sees it pass too. Without a deadline that check is one atomic load.
//!
//! Checkpoint values (the bytes of the value, not the frame) are handed to
//! [`Handle::take_checkpoints`] as soon as they are queued for the output, before the
//! write (`checkpoints`); at most [`MAX_IN_FLIGHT_CHECKPOINTS`] of them await an
//! acknowledgement, the newest of the others is held back and forwarded once one makes
//! room, or at the end of the stream. Counters are published once per batch, and
//! per-table counts whenever the pump is about to wait for an idle input.
//!
//! A wait on a full output is a stall: its start is shared when the first wait of it
//! begins and cleared by the next write the output takes bytes of (a branch per write,
//! nothing per frame), so [`Handle::output_stalled_for`] tells a stalled output from an
//! idle input.
//!
//! Memory: the framer buffer (read_buffer_size + max_frame_size + 2 at most), the
//! segment list, a held checkpoint frame, and the checkpoints in flight (at most
//! [`MAX_IN_FLIGHT_CHECKPOINTS`]); a slow output blocks reads, which blocks the input
//! through its pipe.
//!
//! Modules: `options` (what the pump is asked to do), `handle` (what other threads
//! see), `reader` (the input side), `writer` (the output side), `frames` (from
//! bytes read to segments queued), `parallel` (validation across threads),
//! `rejects` (invalid frames, legacy log and status lines), `checkpoints` (handing
//! checkpoint values to the runtime), `splice` (Linux: moving bytes without copying).

mod checkpoints;
mod frames;
mod handle;
mod options;
mod parallel;
mod reader;
mod rejects;
#[cfg(target_os = "linux")]
mod splice;
mod writer;

pub use checkpoints::MAX_IN_FLIGHT_CHECKPOINTS;
pub use handle::{Handle, Outcome, PumpResult, Torn};
pub use options::{
    Options, Policy, DEFAULT_PIPE_SIZE, EXCERPT_LEN, LOG_LINE_LEN, MAX_HELD_LOG_LINES,
    STATUS_LINE_LEN, STATUS_LINE_WATCH, TAIL_WAIT,
};

use crate::counters::Local;
use crate::error::Error;
use crate::sys::{self, Fd, Interest, NonBlockGuard, Wait, Waker};
#[cfg(target_os = "linux")]
use crate::zerocopy::ZeroCopy;
use checkpoints::CheckpointHandoff;
use handle::Shared;
use reader::{ReadState, Reader};
use rejects::Rejects;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use writer::Writer;

/// How bytes get from the input to the output.
enum Transfer {
    /// Read into the framer's buffer, written from it.
    Copy,
    /// Linux, passthrough (`validate` off): splice(2) from input to output, unframed.
    #[cfg(target_os = "linux")]
    Splice,
    /// Linux, validating: frames are validated from a peeked copy and spliced out of
    /// the input pipe (see [`crate::zerocopy`]).
    #[cfg(target_os = "linux")]
    ZeroCopy(ZeroCopy),
}

/// What a run holds until it ends: the fds' non-blocking mode and the thread's
/// scheduling policy, both restored on drop (in this order).
struct Session {
    _input: NonBlockGuard,
    _output: NonBlockGuard,
    #[cfg(target_os = "linux")]
    _scheduling: Option<sys::BatchScheduling>,
}

enum Phase {
    New,
    Started,
    /// Boxed: a result is far larger than the other phases, and made once per run.
    Ended(Box<PumpResult>),
}

pub struct Pump {
    opts: Options,
    shared: Arc<Shared>,
    reader: Reader,
    writer: Writer,
    checkpoints: CheckpointHandoff,
    rejects: Rejects,
    local: Local,
    transfer: Transfer,
    session: Option<Session>,
    phase: Phase,
    /// Whether the run waits on the output since its last write that took bytes (what
    /// [`Handle::output_stalled_for`] reads, shared once per stall).
    output_stalled: bool,
    /// Under "fail": the framer-buffer index past the line of the invalid frame that
    /// ends the run, the last byte it deals with (frames validated after it in the same
    /// batch are not).
    failed_at: Option<usize>,
}

impl Pump {
    /// A pump from `input` to `output` (neither owned nor closed). `prefix` holds bytes
    /// already read from `input`; they are framed first.
    pub fn new(input: Fd, output: Fd, opts: Options, prefix: &[u8]) -> Result<Pump, Error> {
        opts.check()?;
        let waker = Waker::new().map_err(|e| Error::io("cannot create the pump's wake fd", e))?;
        let mut local = Local::default();
        local.bytes_read = prefix.len() as u64;
        #[cfg(target_os = "linux")]
        let transfer = if opts.validate {
            Transfer::Copy
        } else {
            Transfer::Splice
        };
        #[cfg(not(target_os = "linux"))]
        let transfer = Transfer::Copy;
        Ok(Pump {
            shared: Arc::new(Shared::new(waker, opts.forward_checkpoints)),
            reader: Reader::new(input, &opts, prefix),
            writer: Writer::new(output),
            checkpoints: CheckpointHandoff::default(),
            rejects: Rejects::new(&opts),
            local,
            transfer,
            session: None,
            phase: Phase::New,
            output_stalled: false,
            failed_at: None,
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
        return matches!(self.transfer, Transfer::ZeroCopy(_));
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
        if let Phase::Ended(r) = &self.phase {
            return Some(PumpResult::clone(r));
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
        if let Phase::Ended(r) = &self.phase {
            return PumpResult::clone(r);
        }
        self.finish(Err(Error::Stopped))
    }

    fn start(&mut self) -> Result<(), Error> {
        if !matches!(self.phase, Phase::New) {
            return Ok(());
        }
        self.phase = Phase::Started;
        let (input, output) = (self.reader.fd, self.writer.fd);
        let gi = NonBlockGuard::new(input)
            .map_err(|e| Error::io(format!("input fd {input} is not usable"), e))?;
        let go = NonBlockGuard::new(output)
            .map_err(|e| Error::io(format!("output fd {output} is not usable"), e))?;
        self.session = Some(Session {
            _input: gi,
            _output: go,
            #[cfg(target_os = "linux")]
            _scheduling: if self.opts.batch_scheduling {
                sys::BatchScheduling::enter()
            } else {
                None
            },
        });
        if self.opts.pipe_size > 0 {
            sys::grow_pipe(input, self.opts.pipe_size);
            sys::grow_pipe(output, self.opts.pipe_size);
        }
        // reading ahead for several validation threads would peek the same bytes twice
        #[cfg(target_os = "linux")]
        if self.opts.validate && self.opts.zero_copy && !self.reader.batch.parallel() {
            let size = self.opts.pipe_size.max(self.opts.read_buffer_size);
            if let Some(zc) = ZeroCopy::new(input, size, self.reader.framer.filled()) {
                self.transfer = Transfer::ZeroCopy(zc);
            }
        }
        self.process()
    }

    /// Returns Ok(true) at the end of input, Ok(false) when the slice is over.
    fn step(&mut self, deadline: Option<Instant>) -> Result<bool, Error> {
        loop {
            if self.shared.stopped() {
                return Err(Error::Stopped);
            }
            // Before anything is written (one batch, or one splice): a holder that
            // resumes past its lease's deadline (paused, its input writing on) forwards
            // none of what its input wrote meanwhile.
            if self.shared.deadline_passed() {
                return Err(Error::DeadlinePassed);
            }
            if self.writer.pending() {
                if self.write_some()? {
                    self.after_flush();
                    continue;
                }
                // a stalled output may stay stalled: show what was read meanwhile
                self.shared.counters.publish(&mut self.local, false);
                self.waits_on_output();
                if !self.wait(self.writer.fd, Interest::Write, deadline)? {
                    return Ok(false);
                }
                continue;
            }
            if let Some(e) = self.rejects.failure.take() {
                return Err(e);
            }
            // an acknowledgement made room for the checkpoint held back (it woke us)
            if self.checkpoints.holding && self.checkpoints.room(&self.shared) {
                self.queue_held()?;
                if self.writer.segs.is_empty() {
                    self.after_flush(); // withheld instead
                }
                continue;
            }
            if self.reader.state == ReadState::Eof {
                return Ok(true);
            }
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Ok(false);
                }
            }
            #[cfg(target_os = "linux")]
            if matches!(self.transfer, Transfer::Splice) {
                if !self.splice_once(deadline)? {
                    return Ok(false);
                }
                continue;
            }
            if !self.read_once(deadline)? {
                return Ok(false);
            }
        }
    }

    /// One read and what it leads to. Ok(false) when the slice ended (or a signal
    /// interrupted a wait) first.
    fn read_once(&mut self, deadline: Option<Instant>) -> Result<bool, Error> {
        let ahead = self.reader.state == ReadState::ReadAhead;
        match self.fill() {
            Ok(0) => return self.end_of_input(ahead, deadline),
            Ok(n) => {
                self.reader.framer.commit(n);
                self.local.bytes_read += n as u64;
                if self.opts.validate
                    && self.reader.batch.parallel()
                    && self.reader.framer.pending() < self.opts.read_buffer_size
                {
                    // read ahead while the input has more: a bigger batch splits better
                    self.reader.state = ReadState::ReadAhead;
                    return Ok(true);
                }
                self.reader.state = ReadState::Reading;
                self.process()?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && ahead => {
                self.reader.state = ReadState::Reading;
                self.process()?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.shared.input_ended() => {
                return self.end_of_input(false, deadline);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // An idle input may stay idle for hours: show exact counts meanwhile
                // (a frame counts as dead-lettered once it is on disk).
                self.rejects.sync(&mut self.local)?;
                self.shared.counters.publish(&mut self.local, true);
                return self.wait(self.reader.fd, Interest::Read, deadline);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(deadline.is_none()),
            Err(e) => {
                return Err(Error::io(
                    format!("read from input fd {} failed", self.reader.fd),
                    e,
                ))
            }
        }
        Ok(true)
    }

    /// The input ended (EOF, or [`Handle::end_input`] and nothing left to read): the
    /// last line is framed, unless it is a crashed input's torn write. Ok(false): the
    /// slice ended first (called again on the next read).
    fn end_of_input(&mut self, ahead: bool, deadline: Option<Instant>) -> Result<bool, Error> {
        if ahead {
            // frame the complete lines first: what is left is the last one
            self.reader.state = ReadState::Reading;
            self.process()?;
        }
        let validate = self.opts.validate;
        let until = self.wake_by(deadline);
        if !self.reader.tail_settled(validate, &self.shared, until)? {
            return Ok(false);
        }
        self.reader.framer.set_eof();
        self.reader.state = ReadState::Eof;
        self.process()?;
        // the input's last checkpoint reaches the output, room or not
        if !self.rejects.failed() && self.checkpoints.holding {
            self.queue_held()?;
        }
        Ok(true)
    }

    /// When a wait must end: at the end of the slice (`deadline`) or at the pump's
    /// deadline, whichever comes first.
    fn wake_by(&self, deadline: Option<Instant>) -> Option<Instant> {
        let Some(left) = self.shared.until_deadline() else {
            return deadline;
        };
        let at = Instant::now() + left;
        Some(deadline.map_or(at, |d| d.min(at)))
    }

    /// The output's pipe is full: the run waits on it from now until it takes bytes
    /// again (the first wait of a stall is when it began).
    fn waits_on_output(&mut self) {
        if !self.output_stalled {
            self.output_stalled = true;
            self.shared.output_stalled(sys::monotonic());
        }
    }

    /// A write or splice to the output took bytes: it reads (one branch per write).
    #[inline]
    fn output_took(&mut self) {
        if self.output_stalled {
            self.output_stalled = false;
            self.shared.output_moved();
        }
    }

    /// Waits for `fd`; Ok(false) on timeout or signal, Err(Stopped) when stopped. A
    /// timeout at the pump's deadline with no slice is Ok(true): the loop then sees it.
    fn wait(&self, fd: Fd, interest: Interest, deadline: Option<Instant>) -> Result<bool, Error> {
        let timeout = self
            .wake_by(deadline)
            .map(|d| d.saturating_duration_since(Instant::now()));
        match sys::wait(fd, interest, &self.shared.waker, timeout) {
            Ok(Wait::Ready) => Ok(true),
            Ok(Wait::Woken) => self.shared.woken().map(|()| true),
            Ok(Wait::Timeout) => Ok(deadline.is_none()),
            Ok(Wait::Interrupted) => Ok(deadline.is_none()),
            Err(e) => Err(Error::io("poll failed", e)),
        }
    }

    fn finish(&mut self, mut r: Result<(), Error>) -> PumpResult {
        if let Err(e) = self.rejects.finish(&mut self.local) {
            if matches!(r, Ok(()) | Err(Error::Stopped | Error::DeadlinePassed)) {
                r = Err(e);
            }
        }
        self.session = None;
        self.abandon_held();
        self.output_took(); // an ended run waits on nothing
        self.shared.counters.publish(&mut self.local, true);
        let counters = self.shared.counters.snapshot();
        let mut oversized = false;
        let (outcome, message, offset, excerpt) = match r {
            Ok(()) => (Outcome::Eof, None, None, None),
            Err(Error::Stopped) => (Outcome::Stopped, None, None, None),
            Err(Error::DeadlinePassed) => (Outcome::DeadlinePassed, None, None, None),
            Err(Error::InvalidFrame {
                message,
                offset,
                excerpt,
                oversized: too_long,
            }) => {
                oversized = too_long;
                (
                    Outcome::InvalidFrame,
                    Some(message),
                    Some(offset),
                    Some(excerpt),
                )
            }
            Err(e @ Error::OutputClosed { .. }) => {
                (Outcome::OutputClosed, Some(e.to_string()), None, None)
            }
            Err(e @ Error::DeadLetter { .. }) => {
                (Outcome::DeadLetterFailed, Some(e.to_string()), None, None)
            }
            Err(e) => (Outcome::IoError, Some(e.to_string()), None, None),
        };
        let (undealt, peeked) = self.left_over();
        let res = PumpResult {
            outcome,
            counters,
            message,
            offset,
            excerpt,
            oversized,
            torn: self.reader.torn,
            undealt,
            peeked,
        };
        self.phase = Phase::Ended(Box::new(res.clone()));
        res
    }
}
