//! Linux: forwarding validated frames with one copy instead of two.
//!
//! The plain pump copies every byte twice: `read(2)` from the input pipe into its
//! buffer, `write(2)` from the buffer into the output pipe. Validation only needs to
//! *see* the bytes, so here the pump looks at them without taking them: `tee(2)`
//! duplicates the head of the input pipe into a private pipe (page references, no
//! copy), one `read(2)` copies that into the framer's buffer, and once the frames are
//! validated `splice(2)` moves the valid ones from the input pipe to the output (page
//! references again when the output is a pipe). Bytes that must not be forwarded
//! (invalid frames, blank lines, the `\r` of `\r\n`) are dropped from the input pipe by
//! splicing them to /dev/null, and anything the pump rewrites is written from the
//! buffer as before.
//!
//! The bookkeeping is one number, [`ZeroCopy::taken`]: the framer-buffer index up to
//! which bytes have been consumed from the input pipe. Bytes of the buffer before it
//! exist only in the buffer (write them); bytes from it to the end of the buffer are
//! also, in order, at the head of the input pipe (splice them, or drop them). Before
//! the pump peeks again or waits for input, it consumes everything it holds, so the
//! pipe never starts with bytes the pump has already seen (and `poll(2)` on it means
//! new data).
//! A run that ends leaves what it peeked and did not consume in the pipe:
//! [`crate::PumpResult::peeked`] says how much, so that what the pipe holds then is not
//! taken for bytes the run never read.

use crate::sys::{self, Fd, OwnedFd};
use std::io;

/// Used when splicing to /dev/null is refused: bytes are read and thrown away.
const SCRATCH_LEN: usize = 64 * 1024;

pub struct ZeroCopy {
    peek_read: OwnedFd,
    peek_write: OwnedFd,
    peek_capacity: usize,
    null: Option<OwnedFd>,
    scratch: Vec<u8>,
    /// Framer-buffer index up to which bytes are consumed from the input pipe.
    pub taken: usize,
}

impl ZeroCopy {
    /// Set-up for reading `input`, or None when it is not a pipe or the private pipe
    /// cannot be made (the pump then reads and writes as usual). The output may be
    /// anything splice(2) writes to (a pipe, a socket, a file); where it refuses
    /// (EINVAL: a terminal, a file opened for appending), the pump falls back to writing.
    pub fn new(input: Fd, pipe_size: usize, taken: usize) -> Option<ZeroCopy> {
        if !sys::is_pipe(input) {
            return None;
        }
        let (peek_read, peek_write) = sys::pipe().ok()?;
        sys::grow_pipe(peek_write.0, pipe_size);
        let peek_capacity = sys::pipe_size(peek_write.0)?;
        Some(ZeroCopy {
            peek_read,
            peek_write,
            peek_capacity,
            null: sys::open_dev_null().ok(),
            scratch: Vec::new(),
            taken,
        })
    }

    /// Copies the next bytes of `input` into `dst` without consuming them. Like
    /// `read(2)`: Ok(0) at end of input, WouldBlock when the pipe is empty.
    pub fn peek(&mut self, input: Fd, dst: &mut [u8]) -> io::Result<usize> {
        let want = dst.len().min(self.peek_capacity);
        let n = sys::tee(input, self.peek_write.0, want)?;
        let mut got = 0;
        while got < n {
            match sys::read(self.peek_read.0, &mut dst[got..n]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Consumes `n` bytes at the head of `input` without forwarding them.
    pub fn drop_bytes(&mut self, input: Fd, mut n: usize) -> io::Result<()> {
        while n > 0 {
            let r = match &self.null {
                Some(null) => sys::splice(input, null.0, n),
                None => {
                    self.scratch.resize(SCRATCH_LEN, 0);
                    let k = n.min(SCRATCH_LEN);
                    sys::read(input, &mut self.scratch[..k])
                }
            };
            match r {
                // the bytes were peeked, so the pipe holds them: 0 cannot mean EOF
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(k) => n -= k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.null.is_some() && e.raw_os_error() == Some(libc::EINVAL) => {
                    self.null = None;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
