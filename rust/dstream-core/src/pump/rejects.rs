//! Frames that are not forwarded: invalid and oversized ones under the task's
//! [`Policy`], and a legacy input's log lines; and a legacy input's frames that may be
//! a status line, forwarded but also held for the runtime.

use super::options::{
    Options, Policy, EXCERPT_LEN, LOG_LINE_LEN, MAX_HELD_LOG_LINES, STATUS_LINE_LEN,
    STATUS_LINE_WATCH,
};
use crate::counters::Local;
use crate::deadletter::DeadLetter;
use crate::error::Error;
use crate::frame::{human_size, human_sizes};
use std::sync::Mutex;

/// A legacy provider's log line: not an attempt at a frame (which starts with `{`).
fn is_log_line(raw: &[u8]) -> bool {
    raw.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b != b'{')
}

/// Counts a legacy log line and holds its `kept` first bytes with its whole length
/// `total` for the runtime's log (at most MAX_HELD_LOG_LINES between two takes).
fn hold_log_line(
    local: &mut Local,
    log_lines: &Mutex<Vec<(Vec<u8>, u64)>>,
    kept: Vec<u8>,
    total: u64,
) {
    local.log_lines += 1;
    let mut held = log_lines.lock().unwrap_or_else(|e| e.into_inner());
    if held.len() < MAX_HELD_LOG_LINES {
        held.push((kept, total));
    }
}

/// One piece of an oversized line (see [`crate::framer::Event::Oversized`]).
pub(super) struct Piece<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) offset: u64,
    pub(super) first: bool,
    pub(super) last: bool,
    /// The line's length without `\n`, on its last piece.
    pub(super) total: u64,
}

pub(super) struct Rejects {
    policy: Policy,
    legacy_logs: bool,
    max_frame_size: u64,
    dead_letter: Option<DeadLetter>,
    /// The first bytes of the oversized line streaming by, for the "fail" message (or
    /// for the log, when it is a legacy log line).
    oversized_excerpt: Vec<u8>,
    /// The oversized line streaming by is a legacy input's log line: logged, cut, never
    /// an invalid frame (docs/protocol.md, "Legacy providers").
    oversized_log: bool,
    /// Under "fail": the error that ends the run once everything before the frame has
    /// been written.
    pub(super) failure: Option<Error>,
    /// How many more of a legacy input's frames without `data` are looked at.
    status_watch: usize,
}

impl Rejects {
    pub(super) fn new(opts: &Options) -> Rejects {
        let dead_letter = match (opts.policy, &opts.dead_letter_path) {
            (Policy::DeadLetter, Some(p)) => Some(DeadLetter::new(p.clone(), opts.task.clone())),
            _ => None,
        };
        Rejects {
            policy: opts.policy,
            legacy_logs: opts.legacy_logs,
            max_frame_size: opts.max_frame_size as u64,
            dead_letter,
            oversized_excerpt: Vec::new(),
            oversized_log: false,
            failure: None,
            status_watch: if opts.legacy_logs {
                STATUS_LINE_WATCH
            } else {
                0
            },
        }
    }

    /// Whether a valid frame without `data` is still looked at ([`Rejects::status_like`]).
    #[inline(always)]
    pub(super) fn watches_status_lines(&self) -> bool {
        self.status_watch > 0
    }

    /// A legacy input's valid frame without `data`, delivered like any other. Only the
    /// first stdout line is ever a handshake (docs/protocol.md, section 2), but a
    /// protocol-1 provider that wrote something else on stdout first writes its status
    /// line later, where it is taken for data: one that holds a `"status"` key (in any
    /// case) is held for the runtime at stream `offset`, which decides and warns
    /// (runtime/legacy.py). Such a line comes first or nearly: only the first
    /// STATUS_LINE_WATCH frames without `data` are looked at.
    #[cold]
    pub(super) fn status_like(
        &mut self,
        held: &Mutex<Vec<(u64, Vec<u8>)>>,
        offset: u64,
        raw: &[u8],
    ) {
        self.status_watch -= 1;
        if raw.len() > STATUS_LINE_LEN
            || !raw
                .windows(8)
                .any(|w| w.eq_ignore_ascii_case(b"\"status\""))
        {
            return;
        }
        held.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((offset, raw.to_vec()));
    }

    #[inline]
    pub(super) fn failed(&self) -> bool {
        self.failure.is_some()
    }

    /// An invalid frame `raw` at stream `offset`; a legacy log line goes to `log_lines`.
    pub(super) fn invalid(
        &mut self,
        local: &mut Local,
        log_lines: &Mutex<Vec<(Vec<u8>, u64)>>,
        offset: u64,
        reason: String,
        raw: &[u8],
    ) -> Result<(), Error> {
        if self.legacy_logs && is_log_line(raw) {
            let kept = raw[..raw.len().min(LOG_LINE_LEN)].to_vec();
            hold_log_line(local, log_lines, kept, raw.len() as u64);
            return Ok(());
        }
        local.invalid_frames += 1;
        match self.policy {
            Policy::Fail => {
                self.failure = Some(Error::InvalidFrame {
                    message: reason,
                    offset,
                    excerpt: raw[..raw.len().min(EXCERPT_LEN)].to_vec(),
                    oversized: false,
                });
            }
            Policy::Skip => local.skipped += 1,
            Policy::DeadLetter => {
                // counted as dead-lettered once on disk (sync)
                if let Some(dl) = self.dead_letter.as_mut() {
                    dl.record(offset, &reason, raw)?;
                }
            }
        }
        Ok(())
    }

    /// A piece of an oversized line, streamed into its dead-letter record; the line
    /// counts as one invalid frame on its last piece. A legacy input's log line is
    /// instead kept up to max_frame_size (and LOG_LINE_LEN) bytes and held as a log line.
    pub(super) fn oversized(
        &mut self,
        local: &mut Local,
        log_lines: &Mutex<Vec<(Vec<u8>, u64)>>,
        piece: Piece<'_>,
    ) -> Result<(), Error> {
        let max = self.max_frame_size;
        if piece.first {
            self.oversized_log = self.legacy_logs && is_log_line(piece.bytes);
            self.oversized_excerpt.clear();
        }
        if self.oversized_log {
            let keep = (max as usize).min(LOG_LINE_LEN);
            let room = keep.saturating_sub(self.oversized_excerpt.len());
            self.oversized_excerpt
                .extend_from_slice(&piece.bytes[..piece.bytes.len().min(room)]);
            if piece.last {
                self.oversized_log = false;
                let kept = std::mem::take(&mut self.oversized_excerpt);
                hold_log_line(local, log_lines, kept, piece.total);
            }
            return Ok(());
        }
        if piece.first {
            // Cleared above, with every first piece.
            self.oversized_excerpt
                .extend_from_slice(&piece.bytes[..piece.bytes.len().min(EXCERPT_LEN)]);
            if let Some(dl) = self.dead_letter.as_mut() {
                dl.begin_stream(
                    piece.offset,
                    &format!("frame exceeds max_frame_size {}", human_size(max)),
                )?;
            }
        }
        if let Some(dl) = self.dead_letter.as_mut() {
            dl.stream(piece.bytes)?;
        }
        if piece.last {
            local.invalid_frames += 1;
            match self.policy {
                Policy::Fail => {
                    let (size, limit) = human_sizes(piece.total, max);
                    self.failure = Some(Error::InvalidFrame {
                        message: format!("frame of {size} exceeds max_frame_size {limit}"),
                        offset: piece.offset,
                        excerpt: std::mem::take(&mut self.oversized_excerpt),
                        oversized: true,
                    });
                }
                Policy::Skip => local.skipped += 1,
                Policy::DeadLetter => {
                    if let Some(dl) = self.dead_letter.as_mut() {
                        dl.end_stream()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Puts the dead letters written since the last sync on disk, and counts them as
    /// dead-lettered. Without any, no system call: one branch.
    #[inline(always)]
    pub(super) fn sync(&mut self, local: &mut Local) -> Result<(), Error> {
        match self.dead_letter.as_mut() {
            Some(dl) if dl.unsynced() => Self::synced(local, dl.sync()),
            _ => Ok(()),
        }
    }

    #[cold]
    fn synced(local: &mut Local, done: Result<u64, Error>) -> Result<(), Error> {
        local.dead_lettered += done?;
        Ok(())
    }

    /// At the end of the run: flushes and fsyncs the dead-letter file, if any.
    pub(super) fn finish(&mut self, local: &mut Local) -> Result<(), Error> {
        match self.dead_letter.as_mut() {
            Some(dl) => Self::synced(local, dl.finish()),
            None => Ok(()),
        }
    }
}
