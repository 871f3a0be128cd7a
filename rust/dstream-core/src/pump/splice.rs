//! Linux: moving bytes between the pipes without copying them through the pump's
//! buffer: passthrough (`validate` off) splices input to output; zero-copy (see
//! [`crate::zerocopy`]) splices the validated frames out of the input pipe.

use super::writer::Seg;
use super::{Pump, Transfer};
use crate::error::Error;
use crate::sys::{self, Interest};
use std::io;
use std::time::Instant;

/// Bytes asked of one splice(2).
const SPLICE_LEN: usize = 1 << 20;

/// Zero-copy: below this average length of a batch's segments, the batch is written from
/// the buffer (see [`Pump::copy_if_fragmented`]).
const SPLICE_MIN_SEGMENT: usize = 16 << 10;

/// splice(2) or tee(2) refused for these fds (not pipes, or not supported here).
fn refused(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
}

impl Pump {
    /// Passthrough: one splice from input to output. Ok(false) when the slice ended (or
    /// a signal interrupted a wait) first.
    pub(super) fn splice_once(&mut self, deadline: Option<Instant>) -> Result<bool, Error> {
        let (input, output) = (self.reader.fd, self.writer.fd);
        match sys::splice(input, output, SPLICE_LEN) {
            Ok(0) => {
                self.reader.state = super::reader::ReadState::Eof;
                Ok(true)
            }
            Ok(n) => {
                self.local.bytes_read += n as u64;
                self.local.bytes += n as u64;
                self.output_took();
                self.shared.counters.publish(&mut self.local, false);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !sys::ready_now(output, Interest::Write) {
                    self.waits_on_output();
                    self.wait(output, Interest::Write, deadline)
                } else if self.shared.input_ended() && !sys::ready_now(input, Interest::Read) {
                    // nothing left to read of an input that ended (Handle::end_input)
                    self.reader.state = super::reader::ReadState::Eof;
                    Ok(true)
                } else {
                    self.wait(input, Interest::Read, deadline)
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(deadline.is_none()),
            Err(e) if refused(&e) => {
                // neither fd is a pipe (or splice is unavailable): plain read/write
                self.transfer = Transfer::Copy;
                Ok(true)
            }
            Err(e) if sys::is_broken_pipe(&e) => Err(self.output_closed()),
            Err(e) => Err(Error::io(
                format!("splice from input fd {input} to output fd {output} failed"),
                e,
            )),
        }
    }

    /// Zero-copy: a batch of many small segments (frames not forwarded between them:
    /// checkpoints withheld or coalesced, invalid frames) costs two system calls a
    /// segment spliced (the gap dropped, the segment moved), far more than copying its
    /// bytes. Such a batch is consumed from the input pipe at once, and written from the
    /// buffer as without zero-copy.
    pub(super) fn copy_if_fragmented(&mut self) -> Result<(), Error> {
        let Transfer::ZeroCopy(zc) = &mut self.transfer else {
            return Ok(());
        };
        let (mut pieces, mut bytes, mut end) = (0usize, 0usize, 0usize);
        for seg in &self.writer.segs {
            if let Seg::Buf { start, len } = *seg {
                pieces += 1;
                bytes += len;
                end = start + len;
            }
        }
        if pieces < 2 || bytes / pieces >= SPLICE_MIN_SEGMENT || end <= zc.taken {
            return Ok(());
        }
        let input = self.reader.fd;
        zc.drop_bytes(input, end - zc.taken)
            .map_err(|e| Error::io(format!("read from input fd {input} failed"), e))?;
        zc.taken = end;
        Ok(())
    }

    /// Zero-copy: moves the rest of the current segment, `buf[start..start + len]`, from
    /// the input pipe to the output, after dropping whatever the pipe holds before it.
    /// Ok(false): output full.
    pub(super) fn splice_seg(&mut self, start: usize, len: usize) -> Result<bool, Error> {
        let (input, output) = (self.reader.fd, self.writer.fd);
        let Transfer::ZeroCopy(zc) = &mut self.transfer else {
            return Ok(true);
        };
        let pos = start + self.writer.written;
        if pos > zc.taken {
            zc.drop_bytes(input, pos - zc.taken)
                .map_err(|e| Error::io(format!("read from input fd {input} failed"), e))?;
            zc.taken = pos;
        }
        match sys::splice(input, output, start + len - pos) {
            Ok(0) => Err(Error::io(
                format!("splice from input fd {input} returned no data"),
                io::Error::from(io::ErrorKind::UnexpectedEof),
            )),
            Ok(k) => {
                zc.taken += k;
                self.writer.advance(k);
                self.output_took();
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) if sys::is_broken_pipe(&e) => Err(self.output_closed()),
            Err(e) if refused(&e) => {
                // splice refused for these pipes: consume what the buffer already holds
                // and write it from there, as without zero-copy
                let held = self.reader.framer.filled() - zc.taken;
                zc.drop_bytes(input, held)
                    .map_err(|e| Error::io(format!("read from input fd {input} failed"), e))?;
                self.transfer = Transfer::Copy;
                Ok(true)
            }
            Err(e) => Err(Error::io(
                format!("splice from input fd {input} to output fd {output} failed"),
                e,
            )),
        }
    }
}
