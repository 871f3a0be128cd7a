//! The acknowledgement side of the pump: checkpoint values queued for the output are
//! handed to the runtime, which matches the output's acknowledgements against them.
//!
//! They are handed out as soon as they are queued, before the write: an output may
//! read and acknowledge one while the rest of the same write is still in flight, and
//! the runtime must already know it was sent.

use std::ops::Range;
use std::sync::Mutex;

/// Where, in the framer's buffer, the checkpoint values of the batch being queued are.
#[derive(Default)]
pub(super) struct CheckpointHandoff {
    values: Vec<Range<usize>>,
}

impl CheckpointHandoff {
    /// A checkpoint value at `buf[value]`, in stream order.
    #[inline]
    pub(super) fn push(&mut self, value: Range<usize>) {
        self.values.push(value);
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
}
