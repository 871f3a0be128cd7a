//! The input side: reading into the framer's buffer (zero-copy: peeking at the input
//! pipe), and, at EOF, telling a crashed input's torn last line from a last frame.

use super::handle::{Shared, Torn};
#[cfg(target_os = "linux")]
use super::options::TAIL_WAIT;
use super::parallel::ValidationBatch;
#[cfg(target_os = "linux")]
use super::Transfer;
use super::{Options, Pump};
use crate::error::Error;
use crate::framer::Framer;
use crate::sys::{self, Fd};
#[cfg(target_os = "linux")]
use crate::sys::{Interest, Wait};
use crate::validate::FastWalkGate;
use std::io;
use std::time::Instant;

/// Where reading stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadState {
    Reading,
    /// Bytes were read but not framed yet: reading ahead for a bigger batch while the
    /// input has more (several validation threads).
    ReadAhead,
    /// The input reached EOF and everything read was framed.
    Eof,
}

/// Linux: the input process, watched at EOF with an unterminated last line (see
/// [`Options::input_pid`]).
#[cfg(target_os = "linux")]
pub(super) struct TailWatch {
    pidfd: sys::OwnedFd,
    pid: u32,
    /// When waiting for it to exit ends (set by the first wait).
    until: Option<Instant>,
}

pub(super) struct Reader {
    pub(super) fd: Fd,
    pub(super) framer: Framer,
    pub(super) fast_gate: FastWalkGate,
    pub(super) batch: ValidationBatch,
    pub(super) state: ReadState,
    #[cfg(target_os = "linux")]
    tail: Option<TailWatch>,
    pub(super) torn: Option<Torn>,
}

impl Reader {
    pub(super) fn new(fd: Fd, opts: &Options, prefix: &[u8]) -> Reader {
        Reader {
            fd,
            framer: Framer::new(
                opts.max_frame_size,
                opts.read_buffer_size,
                opts.start_offset,
                prefix,
            ),
            fast_gate: FastWalkGate::default(),
            batch: ValidationBatch::new(opts.validate_threads),
            state: ReadState::Reading,
            #[cfg(target_os = "linux")]
            tail: opts.input_pid.and_then(|pid| {
                let pidfd = sys::pidfd_open(pid).ok()?;
                Some(TailWatch {
                    pidfd,
                    pid,
                    until: None,
                })
            }),
            torn: None,
        }
    }

    /// At EOF with an unterminated last line: waits (up to [`TAIL_WAIT`]) for the input
    /// to exit; when it crashed, that line is torn and dropped. Ok(false): the slice
    /// ended first (called again on the next EOF read).
    #[cfg(target_os = "linux")]
    pub(super) fn tail_settled(
        &mut self,
        validate: bool,
        shared: &Shared,
        deadline: Option<Instant>,
    ) -> Result<bool, Error> {
        let Some(watch) = self.tail.as_mut() else {
            return Ok(true);
        };
        let Some((offset, true)) = self.framer.tail().filter(|_| validate) else {
            return Ok(true);
        };
        let limit = *watch
            .until
            .get_or_insert_with(|| Instant::now() + TAIL_WAIT);
        let until = deadline.map_or(limit, |d| d.min(limit));
        let timeout = until.saturating_duration_since(Instant::now());
        match sys::wait(watch.pidfd.0, Interest::Read, &shared.waker, Some(timeout)) {
            Ok(Wait::Woken) => return shared.woken().map(|()| false),
            Ok(Wait::Ready) => {}
            Ok(Wait::Timeout | Wait::Interrupted) => return Ok(Instant::now() >= limit),
            Err(_) => return Ok(true),
        }
        if sys::child_crashed(watch.pid) == Some(true) {
            self.torn = Some(Torn {
                offset,
                len: self.framer.pending() as u64,
            });
            self.framer.discard_tail();
        }
        Ok(true)
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn tail_settled(
        &mut self,
        _validate: bool,
        _shared: &Shared,
        _deadline: Option<Instant>,
    ) -> Result<bool, Error> {
        Ok(true)
    }
}

impl Pump {
    /// At the end of the run, [`super::PumpResult`]'s `undealt` and `peeked`: the bytes
    /// it read after the last one it dealt with, and the bytes it read that are still in
    /// the input pipe. It dealt with everything it framed (`pending` is what it did
    /// not), up to the invalid frame that failed it and before the first byte queued for
    /// the output and not written.
    pub(super) fn left_over(&self) -> (u64, u64) {
        let framer = &self.reader.framer;
        let filled = framer.filled();
        let dealt = [self.failed_at, self.writer.unwritten()]
            .into_iter()
            .flatten()
            .fold(filled - framer.pending(), usize::min);
        // copying, everything read was consumed from the pipe
        #[allow(unused_mut)]
        let mut taken = filled;
        #[cfg(target_os = "linux")]
        if let Transfer::ZeroCopy(zc) = &self.transfer {
            taken = zc.taken;
        }
        ((filled - dealt) as u64, (filled - taken) as u64)
    }

    /// Reads the next bytes of input into the framer (zero-copy: peeks at them, after
    /// consuming what was peeked before, so that the input pipe starts with new bytes).
    pub(super) fn fill(&mut self) -> io::Result<usize> {
        let reader = &mut self.reader;
        #[cfg(target_os = "linux")]
        if let Transfer::ZeroCopy(zc) = &mut self.transfer {
            let held = reader.framer.filled() - zc.taken;
            if held > 0 {
                zc.drop_bytes(reader.fd, held)?;
            }
            reader.framer.spare(); // may move the partial frame to the front
            zc.taken = reader.framer.filled();
            match zc.peek(reader.fd, reader.framer.spare()) {
                // a kernel or sandbox without tee(2) for these pipes: everything peeked
                // so far is consumed, so reading and writing can take over from here
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                    self.transfer = Transfer::Copy;
                }
                r => return r,
            }
        }
        sys::read(reader.fd, reader.framer.spare())
    }
}
