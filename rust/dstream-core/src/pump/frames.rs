//! From read bytes to queued output: framing, validation, classification and counting
//! of every complete line of a read. Contiguous valid frames form one segment, so a
//! read of valid `\n` frames becomes exactly one write; `\r\n`, blank lines and invalid
//! frames only split segments. Nothing is allocated per frame.

use super::parallel::Framed;
use super::rejects::Piece;
use super::writer::Seg;
use super::Pump;
use crate::error::Error;
use crate::frame::{classify, FrameKind, KEY_CHECKPOINT, NULL_CHECKPOINT};
use crate::framer::Event;
use crate::validate::{self, validate_with, FrameInfo};

impl Pump {
    /// Frames everything buffered and queues the output.
    pub(super) fn process(&mut self) -> Result<(), Error> {
        if !self.opts.validate {
            let (a, b) = self.reader.framer.take_raw();
            if b > a {
                self.writer.push(a, b);
            }
        } else {
            self.process_frames()?;
        }
        self.checkpoints
            .hand_out(self.reader.framer.buf(), &self.shared.checkpoints);
        // at the end of the batch, after the data that followed it
        if self.checkpoints.holding && !self.rejects.failed() && self.checkpoints.room(&self.shared)
        {
            self.queue_held()?;
        }
        #[cfg(target_os = "linux")]
        self.copy_if_fragmented()?;
        if self.writer.segs.is_empty() {
            self.after_flush();
        }
        Ok(())
    }

    fn process_frames(&mut self) -> Result<(), Error> {
        // One validation thread: each frame is validated as it is framed (no batch of
        // pending frames to fill and read back), after one UTF-8 check of every
        // complete line at once.
        let inline = !self.reader.batch.parallel();
        let utf8_end = if inline {
            self.reader.framer.utf8_lines_end()
        } else {
            0
        };
        // Whether the frame next_event finds goes to the strict walk alone.
        let mut refused = false;
        loop {
            if inline {
                if let Some((start, end, nl, info)) = self.fast_frame(utf8_end, &mut refused) {
                    self.frame(start, end, nl, info)?;
                    if self.rejects.failed() {
                        break;
                    }
                    continue;
                }
            }
            let Some(ev) = self.reader.framer.next_event() else {
                break;
            };
            match ev {
                Event::Frame {
                    start,
                    end,
                    nl,
                    offset,
                } if inline => {
                    let frame = &self.reader.framer.buf()[start..end];
                    let utf8_checked = end <= utf8_end;
                    let verdict = if refused {
                        validate::validate_refused(frame, utf8_checked)
                    } else {
                        validate_with(frame, utf8_checked)
                    };
                    match verdict {
                        Ok(info) => self.frame(start, end, nl, info)?,
                        Err(inv) => self.invalid(offset, inv.to_string(), start, end)?,
                    }
                }
                Event::Frame {
                    start,
                    end,
                    nl,
                    offset,
                } => self.reader.batch.frames.push(Framed {
                    start,
                    end,
                    nl,
                    offset,
                }),
                Event::Oversized {
                    start,
                    end,
                    offset,
                    first,
                    last,
                    total,
                } => {
                    self.apply_batch()?;
                    if self.rejects.failed() {
                        break;
                    }
                    let piece = Piece {
                        bytes: &self.reader.framer.buf()[start..end],
                        offset,
                        first,
                        last,
                        total,
                    };
                    let log_lines = &self.shared.log_lines;
                    self.rejects.oversized(&mut self.local, log_lines, piece)?;
                    if self.rejects.failed() {
                        self.failed_at(end);
                    }
                }
            }
            if self.rejects.failed() {
                break;
            }
        }
        if !self.rejects.failed() {
            self.apply_batch()?;
        }
        self.reader.batch.frames.clear();
        Ok(())
    }

    /// The next frame when the fast walk takes it: framed by the walk, without a search
    /// for its newline. Otherwise None, and `refused` says whether the frame
    /// [`crate::framer::Framer::next_event`] finds next should skip the fast walk: it
    /// was refused at that position or not tried (the gate closed; at worst a frame
    /// after a skipped blank line is sent to the strict walk too, which is as correct,
    /// barely slower).
    #[inline(always)]
    fn fast_frame(
        &mut self,
        utf8_end: usize,
        refused: &mut bool,
    ) -> Option<(usize, usize, bool, FrameInfo)> {
        *refused = true;
        let reader = &mut self.reader;
        if !reader.fast_gate.open() {
            return None;
        }
        let gate = &mut reader.fast_gate;
        reader.framer.next_parsed(utf8_end, |b| {
            let taken = gate.prefix(b);
            gate.record(taken.is_some());
            *refused = taken.is_none();
            taken
        })
    }

    /// Validates the batch of frames (split across threads when it pays), then queues
    /// the valid ones and handles the invalid ones, in stream order.
    fn apply_batch(&mut self) -> Result<(), Error> {
        if self.reader.batch.frames.is_empty() {
            return Ok(());
        }
        self.reader.batch.validate(self.reader.framer.buf());
        for i in 0..self.reader.batch.frames.len() {
            let f = self.reader.batch.frames[i];
            match self.reader.batch.verdicts[i] {
                Ok(info) => self.frame(f.start, f.end, f.nl, info)?,
                Err(inv) => self.invalid(f.offset, inv.to_string(), f.start, f.end)?,
            }
            if self.rejects.failed() {
                break;
            }
        }
        self.reader.batch.frames.clear();
        Ok(())
    }

    /// A valid frame `buf[start..end]`: queued (or withheld), classified and counted. A
    /// checkpoint whose value is `null` is an invalid frame: stored, it would hand the
    /// input `"state": null`, the state of a task that starts from the beginning.
    #[inline(always)]
    fn frame(&mut self, start: usize, end: usize, nl: bool, info: FrameInfo) -> Result<(), Error> {
        let kind = classify(&info);
        let mut value = None;
        if kind == FrameKind::Checkpoint {
            let frame = &self.reader.framer.buf()[start..end];
            // the value's own bytes: a checkpoint is opaque (see validate::member)
            value = validate::member(frame, KEY_CHECKPOINT);
            if value.is_some_and(|(a, b)| &frame[a..b] == b"null") {
                let offset = self.reader.framer.offset_of(start);
                return self.invalid(offset, NULL_CHECKPOINT.to_string(), start, end);
            }
            if !self.shared.forwards_checkpoints() {
                self.local.checkpoints_withheld += 1;
                return Ok(());
            }
            if let Some((a, b)) = value {
                let cps = &mut self.checkpoints;
                if !cps.room(&self.shared) {
                    let frame = &self.reader.framer.buf()[start..end];
                    cps.hold(frame, a..b, &mut self.local, &self.shared);
                    return Ok(());
                }
                cps.supersede(&mut self.local, &self.shared);
            }
            // Its acknowledgement stores a position past every frame before it: the
            // dead letters among them are on disk first, or the run fails here.
            self.rejects.sync(&mut self.local)?;
        }
        if nl {
            self.writer.push(start, end + 1);
        } else {
            self.writer.push(start, end);
            self.writer.segs.push(Seg::Newline);
        }
        let in_flight = &mut self.writer.in_flight;
        match kind {
            FrameKind::Checkpoint => {
                in_flight.checkpoints += 1;
                if let Some((a, b)) = value {
                    self.checkpoints.push(start + a..start + b);
                }
            }
            FrameKind::Data => {
                in_flight.data += 1;
                if !info.has_data && self.rejects.watches_status_lines() {
                    let offset = self.reader.framer.offset_of(start);
                    let raw = &self.reader.framer.buf()[start..end];
                    self.rejects
                        .status_like(&self.shared.status_lines, offset, raw);
                }
                if self.opts.count_tables {
                    if let Some((a, b)) = info.table {
                        in_flight.tables.push(start + a..start + b);
                    }
                }
            }
        }
        Ok(())
    }

    /// An invalid frame `buf[start..end]` at stream `offset`, under the task's policy.
    fn invalid(
        &mut self,
        offset: u64,
        reason: String,
        start: usize,
        end: usize,
    ) -> Result<(), Error> {
        let raw = &self.reader.framer.buf()[start..end];
        self.rejects
            .invalid(&mut self.local, &self.shared.log_lines, offset, reason, raw)?;
        if self.rejects.failed() {
            self.failed_at(end);
        }
        Ok(())
    }

    /// Under "fail", the frame (or oversized line) ending at `buf[end]` ends the run:
    /// its line, up to its `\r\n` or `\n`, is the last thing the run deals with.
    #[cold]
    fn failed_at(&mut self, end: usize) {
        if self.failed_at.is_some() {
            return;
        }
        let framer = &self.reader.framer;
        let rest = &framer.buf()[end..framer.filled()];
        let cr = usize::from(rest.first() == Some(&b'\r'));
        let nl = usize::from(rest.get(cr) == Some(&b'\n'));
        self.failed_at = Some(end + cr + nl);
    }
}
