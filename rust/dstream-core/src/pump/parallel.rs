//! Validation of a batch of frames split across threads ([`super::Options::validate_threads`]
//! above 1): the frames of a read are collected, validated together, then applied in
//! stream order.

use crate::validate::{validate_with, FrameInfo, Invalid};

/// Smallest batch (bytes of frames) whose validation is split across threads.
const PAR_MIN_BYTES: usize = 64 * 1024;
/// Upper bound on validation threads.
pub(super) const MAX_VALIDATE_THREADS: usize = 4;

/// A frame found by the framer, not validated yet (see [`crate::framer::Event::Frame`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Framed {
    pub(super) start: usize,
    pub(super) end: usize,
    /// `buf[end]` is the `\n` ending it.
    pub(super) nl: bool,
    pub(super) offset: u64,
}

/// The frames of the current batch, then their verdicts (same index).
pub(super) struct ValidationBatch {
    pub(super) frames: Vec<Framed>,
    pub(super) verdicts: Vec<Result<FrameInfo, Invalid>>,
    threads: usize,
}

impl ValidationBatch {
    /// `threads` as in [`super::Options::validate_threads`] (0: one per CPU).
    pub(super) fn new(threads: usize) -> ValidationBatch {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(MAX_VALIDATE_THREADS);
        ValidationBatch {
            frames: Vec::new(),
            verdicts: Vec::new(),
            threads,
        }
    }

    /// More than one validation thread: frames are batched and the pump reads ahead.
    #[inline]
    pub(super) fn parallel(&self) -> bool {
        self.threads > 1
    }

    /// Fills `verdicts` for `frames` (indexing `buf`), split across threads when it pays.
    pub(super) fn validate(&mut self, buf: &[u8]) {
        let pending = &self.frames[..];
        let verdicts = &mut self.verdicts;
        verdicts.clear();
        let (lo, hi) = (pending[0].start, pending[pending.len() - 1].end);
        let bytes = hi - lo;
        // one UTF-8 check for the whole batch (most are valid); per frame otherwise
        let utf8 = simdutf8::basic::from_utf8(&buf[lo..hi]).is_ok();
        let validate = |f: &[u8]| validate_with(f, utf8);
        if self.threads < 2 || bytes < PAR_MIN_BYTES || pending.len() < 2 * self.threads {
            verdicts.extend(pending.iter().map(|f| validate(&buf[f.start..f.end])));
            return;
        }
        let check = |p: &[Framed], out: &mut [Result<FrameInfo, Invalid>]| {
            for (f, v) in p.iter().zip(out.iter_mut()) {
                *v = validate(&buf[f.start..f.end]);
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
}
