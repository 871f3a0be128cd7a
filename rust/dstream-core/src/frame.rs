//! Protocol constants and frame classification.

use crate::validate::FrameInfo;

/// Version of the wire protocol spoken by this core.
// must match python/dstream/protocol/frames.py
pub const PROTOCOL_VERSION: u32 = 1;

/// Default bound on one frame, newline excluded.
// must match python/dstream/protocol/frames.py
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// Default number of bytes asked for per read(2).
pub const DEFAULT_READ_BUFFER_SIZE: usize = 256 * 1024;

/// Deepest nesting of arrays/objects the validator accepts.
pub const MAX_DEPTH: usize = 1024;

/// Top-level keys that classify a frame.
// must match python/dstream/protocol/frames.py
pub const KEY_DATA: &[u8] = b"data";
pub const KEY_CHECKPOINT: &[u8] = b"checkpoint";
pub const KEY_METADATA: &[u8] = b"metadata";
pub const META_TABLE: &[u8] = b"TableName";

/// Why `{"checkpoint":null}` is an invalid frame: stored and handed back, it would be
/// `"state": null`, which tells an input to start from the beginning.
pub const NULL_CHECKPOINT: &str =
    "checkpoint is null: null is the state of a task that starts from the beginning, \
     not a position to resume from";

/// What a valid frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Anything valid that is not a checkpoint (data envelopes, unknown objects).
    Data,
    /// A top-level object with a `checkpoint` key and no `data` key.
    Checkpoint,
}

/// Classifies a validated frame.
#[inline]
pub fn classify(info: &FrameInfo) -> FrameKind {
    if info.has_checkpoint && !info.has_data {
        FrameKind::Checkpoint
    } else {
        FrameKind::Data
    }
}

/// Offset of the first `needle` in `haystack[start..end]` (`end` clamped to the length),
/// as an index into `haystack`. SIMD (memchr's memmem): the SDK's raw output path scans
/// every byte it reads for checkpoint lines, and Python's `bytes.find` does ~3 GB/s.
pub fn find(haystack: &[u8], needle: &[u8], start: usize, end: usize) -> Option<usize> {
    let end = end.min(haystack.len());
    if start > end {
        return None;
    }
    memchr::memmem::find(&haystack[start..end], needle).map(|i| start + i)
}

/// Human size for messages: "20.0 MiB", "512 B", "64.0 KiB".
pub fn human_size(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if f < KIB * KIB {
        format!("{:.1} KiB", f / KIB)
    } else if f < KIB * KIB * KIB {
        format!("{:.1} MiB", f / (KIB * KIB))
    } else {
        format!("{:.1} GiB", f / (KIB * KIB * KIB))
    }
}

/// Two sizes compared in one message, each as [`human_size`] writes it, or both in
/// bytes when those read the same: "1.0 MiB exceeds max_frame_size 1.0 MiB" says
/// nothing of a line one byte over the limit.
pub fn human_sizes(a: u64, b: u64) -> (String, String) {
    let (x, y) = (human_size(a), human_size(b));
    if x == y && a != b {
        (format!("{a} B"), format!("{b} B"))
    } else {
        (x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_is_bytes_find_within_the_range() {
        let h = b"ab\"checkpoint\" x \"checkpoint\"";
        let k = b"\"checkpoint\"";
        assert_eq!(find(h, k, 0, h.len()), Some(2));
        assert_eq!(find(h, k, 3, h.len()), Some(17));
        assert_eq!(find(h, k, 3, 28), None); // the second one ends past `end`
        assert_eq!(find(h, k, 3, usize::MAX), Some(17));
        assert_eq!(find(h, k, 40, 50), None);
        assert_eq!(find(h, b"", 5, 9), Some(5));
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(20 * 1024 * 1024), "20.0 MiB");
        assert_eq!(human_size(DEFAULT_MAX_FRAME_SIZE as u64), "16.0 MiB");
        assert_eq!(human_size(1536), "1.5 KiB");
    }

    #[test]
    fn sizes_that_read_the_same_are_given_in_bytes() {
        let mib = 1 << 20;
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(human_sizes(mib + 1, mib), pair("1048577 B", "1048576 B"));
        assert_eq!(human_sizes(5000, 1000), pair("4.9 KiB", "1000 B"));
        assert_eq!(human_sizes(mib, mib), pair("1.0 MiB", "1.0 MiB"));
    }
}
