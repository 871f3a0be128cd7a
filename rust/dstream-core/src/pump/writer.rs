//! The output side: valid frames queued as segments of the framer's buffer and written
//! with one `writev` (or, zero-copy, spliced from the input pipe: see [`super::splice`]).

use super::{Pump, Transfer};
use crate::error::Error;
use crate::sys::{self, Fd};
use std::io::{self, IoSlice};
use std::ops::Range;

/// Iovecs per `writev`.
const MAX_IOV: usize = 64;

/// Bytes queued for the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seg {
    /// `buf[start..start + len]` of the framer's buffer: contiguous valid frames.
    Buf { start: usize, len: usize },
    /// A static `"\n"`, ending a frame that had `"\r\n"` or none (at EOF).
    Newline,
    /// [`Writer::held`]: a checkpoint frame held back and forwarded later
    /// (super::checkpoints), `\n` ended.
    Held { len: usize },
}

impl Seg {
    #[inline]
    fn len(self) -> usize {
        match self {
            Seg::Buf { len, .. } | Seg::Held { len } => len,
            Seg::Newline => 1,
        }
    }
}

/// Frames of the batch being written; added to the totals once written, once per batch
/// (see [`Pump::after_flush`]), not at every frame: their bytes as the batch's
/// segments' length, and their number not at all (every frame is a data frame or a
/// checkpoint: [`crate::counters::Local::frames`]).
#[derive(Default)]
pub(super) struct InFlight {
    pub(super) data: u64,
    pub(super) checkpoints: u64,
    /// Where, in the framer's buffer, the table name of each data frame is (valid until
    /// the batch is written, as the segments are): counted per table with the rest, so
    /// that a batch never written counts in no table either.
    pub(super) tables: Vec<Range<usize>>,
}

pub(super) struct Writer {
    pub(super) fd: Fd,
    pub(super) segs: Vec<Seg>,
    /// The first segment not completely written, and how much of it was.
    pub(super) next: usize,
    pub(super) written: usize,
    pub(super) in_flight: InFlight,
    /// The checkpoint frame of a queued [`Seg::Held`].
    pub(super) held: Vec<u8>,
}

impl Writer {
    pub(super) fn new(fd: Fd) -> Writer {
        Writer {
            fd,
            segs: Vec::with_capacity(64),
            next: 0,
            written: 0,
            in_flight: InFlight::default(),
            held: Vec::new(),
        }
    }

    /// Whether queued bytes are waiting to be written.
    #[inline]
    pub(super) fn pending(&self) -> bool {
        self.next < self.segs.len()
    }

    /// Queues `buf[start..end]`, extending the last segment when contiguous.
    #[inline]
    pub(super) fn push(&mut self, start: usize, end: usize) {
        if let Some(Seg::Buf { start: s, len }) = self.segs.last_mut() {
            if *s + *len == start {
                *len += end - start;
                return;
            }
        }
        self.segs.push(Seg::Buf {
            start,
            len: end - start,
        });
    }

    /// The buffer index of the first queued byte not written yet, if any (a pending
    /// [`Seg::Newline`] ends a frame whose bytes were written; a [`Seg::Held`] frame is
    /// not in the buffer).
    pub(super) fn unwritten(&self) -> Option<usize> {
        let (first, later) = self.segs.get(self.next..)?.split_first()?;
        let at = |seg: &Seg, written: usize| match *seg {
            Seg::Buf { start, .. } => Some(start + written),
            Seg::Newline | Seg::Held { .. } => None,
        };
        at(first, self.written).or_else(|| later.iter().find_map(|s| at(s, 0)))
    }

    /// `k` more bytes were written.
    pub(super) fn advance(&mut self, mut k: usize) {
        while k > 0 {
            let l = self.segs[self.next].len() - self.written;
            if k >= l {
                k -= l;
                self.next += 1;
                self.written = 0;
            } else {
                self.written += k;
                k = 0;
            }
        }
    }
}

impl Pump {
    /// Writes queued segments; Ok(true) when all are written, Ok(false) on EAGAIN.
    pub(super) fn write_some(&mut self) -> Result<bool, Error> {
        loop {
            if !self.writer.pending() {
                return Ok(true);
            }
            // zero-copy: bytes from `limit` on are still in the input pipe
            #[allow(unused_mut)]
            let mut limit: Option<usize> = None;
            #[cfg(target_os = "linux")]
            if let Transfer::ZeroCopy(zc) = &self.transfer {
                if let Seg::Buf { start, len } = self.writer.segs[self.writer.next] {
                    if start + self.writer.written >= zc.taken {
                        if self.splice_seg(start, len)? {
                            continue;
                        }
                        return Ok(false);
                    }
                }
                limit = Some(zc.taken);
            }
            let buf = self.reader.framer.buf();
            let w = &self.writer;
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let mut n = 0;
            let mut off = w.written;
            for &seg in &w.segs[w.next..] {
                if n == MAX_IOV {
                    break;
                }
                match seg {
                    Seg::Newline => iov[n] = IoSlice::new(&b"\n"[off..]),
                    Seg::Held { .. } => iov[n] = IoSlice::new(&w.held[off..]),
                    Seg::Buf { start, len } => {
                        let end = start + len;
                        let (a, b) = (start + off, limit.map_or(end, |t| end.min(t)));
                        if a >= b {
                            break;
                        }
                        iov[n] = IoSlice::new(&buf[a..b]);
                        if b < end {
                            n += 1;
                            break;
                        }
                    }
                }
                off = 0;
                n += 1;
            }
            match sys::writev(w.fd, &iov[..n]) {
                Ok(0) => {
                    return Err(Error::io(
                        format!("write to output fd {} failed", w.fd),
                        io::Error::from(io::ErrorKind::WriteZero),
                    ))
                }
                Ok(k) => {
                    self.writer.advance(k);
                    self.output_took();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if sys::is_broken_pipe(&e) => return Err(self.output_closed()),
                Err(e) => return Err(Error::io(format!("write to output fd {} failed", w.fd), e)),
            }
        }
    }

    /// Everything queued was written: commit counts, publish.
    pub(super) fn after_flush(&mut self) {
        let mut b = std::mem::take(&mut self.writer.in_flight);
        let batch_bytes: usize = self.writer.segs.iter().map(|s| s.len()).sum();
        self.local.bytes += batch_bytes as u64;
        self.local.data_frames += b.data;
        self.local.checkpoint_frames += b.checkpoints;
        let buf = self.reader.framer.buf();
        for table in b.tables.drain(..) {
            self.local.count_table(&buf[table]);
        }
        self.writer.in_flight.tables = b.tables; // empty, its capacity kept for the next batch
        self.writer.segs.clear();
        self.writer.next = 0;
        self.writer.written = 0;
        self.shared.counters.publish(&mut self.local, false);
    }

    pub(super) fn output_closed(&self) -> Error {
        Error::OutputClosed {
            context: format!(
                "the output closed its input (EPIPE writing to fd {}) after {} frames ({} bytes) had been forwarded",
                self.writer.fd,
                self.local.frames(),
                self.local.bytes
            ),
        }
    }
}
