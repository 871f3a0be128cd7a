//! The acknowledgement side of the pump: checkpoint values queued for the output are
//! handed to the runtime, which matches the output's acknowledgements against them.
//!
//! They are handed out as soon as they are queued, before the write: an output may
//! read and acknowledge one while the rest of the same write is still in flight, and
//! the runtime must already know it was sent.
//!
//! In flight: the runtime keeps every checkpoint sent until an acknowledgement covers
//! it, so the checkpoints sent and not yet acknowledged ([`Handle::acknowledged`] counts
//! the others) are at most [`MAX_IN_FLIGHT_CHECKPOINTS`]; an output that acknowledges
//! rarely, or only at the end, would otherwise make dstream hold every checkpoint of an
//! endless stream. While there are that many, a checkpoint frame is not forwarded: the
//! newest one is held back (its frame copied, one at a time) and the ones it replaces
//! are coalesced (`checkpoints_coalesced`). The held one is forwarded once an
//! acknowledgement makes room (an acknowledgement wakes a waiting pump for it), at the
//! end of the batch or while the input is idle, and at the end of the stream whatever
//! the count, so the input's last checkpoint always reaches the output. Both are safe:
//! an acknowledgement says everything before its checkpoint was written, so fewer
//! checkpoints only make resume points coarser, and a checkpoint forwarded later than
//! it came (after data that followed it, never before data that preceded it) makes the
//! next run send that data again (at least once). The input is never blocked for it:
//! an output that acknowledges only at the end of its input would never do so.
//!
//! [`Handle::acknowledged`]: super::Handle::acknowledged

use super::handle::Shared;
use super::writer::Seg;
use super::Pump;
use crate::counters::Local;
use crate::error::Error;
use std::ops::Range;
use std::sync::Mutex;

/// The most checkpoints forwarded to the output and not yet acknowledged (see the
/// module's documentation): about 2 MB with checkpoints of 200 bytes, in the pump and
/// the runtime together.
pub const MAX_IN_FLIGHT_CHECKPOINTS: u64 = 4096;

/// Where, in the framer's buffer, the checkpoint values of the batch being queued are;
/// how many were sent; the one held back.
#[derive(Default)]
pub(super) struct CheckpointHandoff {
    values: Vec<Range<usize>>,
    /// Checkpoints queued for the output since the run began.
    sent: u64,
    /// Whether a checkpoint is held back: its frame, `\n` ended, is `held`, and its
    /// value `held[held_value]`.
    pub(super) holding: bool,
    held: Vec<u8>,
    held_value: Range<usize>,
}

impl CheckpointHandoff {
    /// Whether one more checkpoint may be forwarded now (one atomic load).
    #[inline]
    pub(super) fn room(&self, shared: &Shared) -> bool {
        self.sent.saturating_sub(shared.acknowledged()) < MAX_IN_FLIGHT_CHECKPOINTS
    }

    /// A checkpoint value at `buf[value]`, queued now, in stream order.
    #[inline]
    pub(super) fn push(&mut self, value: Range<usize>) {
        self.values.push(value);
        self.sent += 1;
    }

    /// The values pushed since the last call become visible to the runtime (`queue` is
    /// what [`super::Handle::take_checkpoints`] empties).
    pub(super) fn hand_out(&mut self, buf: &[u8], queue: &Mutex<Vec<Vec<u8>>>) {
        if self.values.is_empty() {
            return;
        }
        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
        q.extend(self.values.drain(..).map(|r| buf[r].to_vec()));
    }

    /// Holds the checkpoint frame `frame` (its value at `frame[value]`) back, in place
    /// of the one held before, which is coalesced.
    #[cold]
    pub(super) fn hold(
        &mut self,
        frame: &[u8],
        value: Range<usize>,
        local: &mut Local,
        shared: &Shared,
    ) {
        if self.holding {
            local.checkpoints_coalesced += 1;
        } else {
            self.holding = true;
            shared.set_holding(true);
        }
        self.held.clear();
        self.held.extend_from_slice(frame);
        self.held.push(b'\n');
        self.held_value = value;
    }

    /// A later checkpoint is forwarded: the one held, which it covers, never will be.
    #[inline]
    pub(super) fn supersede(&mut self, local: &mut Local, shared: &Shared) {
        if self.holding {
            self.drop_held(shared);
            local.checkpoints_coalesced += 1;
        }
    }

    fn drop_held(&mut self, shared: &Shared) {
        self.holding = false;
        shared.set_holding(false);
    }
}

impl Pump {
    /// The held checkpoint is queued for the output after everything queued, and its
    /// value handed out (after the values of the batch, in stream order); under
    /// [`super::Handle::set_forward_checkpoints`]`(false)` it is withheld instead. The
    /// dead letters before it are on disk first, as for any checkpoint.
    pub(super) fn queue_held(&mut self) -> Result<(), Error> {
        let cps = &mut self.checkpoints;
        if !cps.holding {
            return Ok(());
        }
        if !self.shared.forwards_checkpoints() {
            cps.drop_held(&self.shared);
            self.local.checkpoints_withheld += 1;
            return Ok(());
        }
        self.rejects.sync(&mut self.local)?;
        let cps = &mut self.checkpoints;
        cps.drop_held(&self.shared);
        std::mem::swap(&mut cps.held, &mut self.writer.held);
        let frame = &self.writer.held;
        let value = frame[cps.held_value.clone()].to_vec();
        cps.sent += 1;
        self.shared
            .checkpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(value);
        self.writer.segs.push(Seg::Held { len: frame.len() });
        self.writer.in_flight.checkpoints += 1;
        Ok(())
    }

    /// The run ends: a checkpoint still held is never forwarded (coalesced).
    pub(super) fn abandon_held(&mut self) {
        if self.checkpoints.holding {
            self.checkpoints.drop_held(&self.shared);
            self.local.checkpoints_coalesced += 1;
        }
    }
}
