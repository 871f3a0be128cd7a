//! Counters shared between the pump thread and readers on other threads.
//!
//! The pump keeps plain `u64` totals in a [`Local`] and publishes them once per batch
//! (one read's worth of frames) into [`Counters`] under a seqlock made of atomics, so
//! a reader gets a consistent snapshot without ever blocking the pump. Per-table counts
//! live in a small map keyed by the raw (still JSON-escaped) `TableName` bytes; a hit
//! costs a hash and no allocation. The shared copy of that map sits behind a mutex that
//! the pump takes at most every [`TABLE_PUBLISH_INTERVAL`] and at the end.

use crate::validate::unescape;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Distinct table names tracked; further names are counted under [`OTHER_TABLES`].
pub const MAX_TABLES: usize = 4096;
/// Key under which data frames of tables beyond [`MAX_TABLES`] are counted.
pub const OTHER_TABLES: &str = "(other tables)";
pub const TABLE_PUBLISH_INTERVAL: Duration = Duration::from_millis(20);

/// FxHash: a fast non-cryptographic hasher for short table names.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap());
            self.hash = (self.hash.rotate_left(5) ^ w).wrapping_mul(SEED);
        }
        for &b in chunks.remainder() {
            self.hash = (self.hash.rotate_left(5) ^ b as u64).wrapping_mul(SEED);
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.hash = (self.hash.rotate_left(5) ^ i as u64).wrapping_mul(SEED);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.hash = (self.hash.rotate_left(5) ^ i as u64).wrapping_mul(SEED);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type TableMap = HashMap<Box<[u8]>, u64, BuildHasherDefault<FxHasher>>;

/// A consistent snapshot of a pump's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Valid frames forwarded (data + checkpoints).
    pub frames: u64,
    /// Bytes forwarded, newlines included.
    pub bytes: u64,
    pub data_frames: u64,
    pub checkpoint_frames: u64,
    /// skipped + dead_lettered (+1 for the frame that failed a run).
    pub invalid_frames: u64,
    pub skipped: u64,
    pub dead_lettered: u64,
    /// Bytes taken from the input (prefix included).
    pub bytes_read: u64,
    /// A legacy input's non-frame stdout lines, taken as its log.
    pub log_lines: u64,
    /// Checkpoint frames not forwarded (an output that does not acknowledge).
    pub checkpoints_withheld: u64,
    /// Data frames per decoded `metadata.TableName`, sorted by name.
    pub tables: Vec<(String, u64)>,
}

/// The pump's private running totals.
#[derive(Default)]
pub struct Local {
    pub frames: u64,
    pub bytes: u64,
    pub data_frames: u64,
    pub checkpoint_frames: u64,
    pub invalid_frames: u64,
    pub skipped: u64,
    pub dead_lettered: u64,
    pub bytes_read: u64,
    pub log_lines: u64,
    pub checkpoints_withheld: u64,
    tables: TableMap,
    tables_dirty: bool,
    last_table_publish: Option<Instant>,
}

impl Local {
    /// Counts one data frame of table `raw` (the JSON string body, escapes kept).
    #[inline]
    pub fn count_table(&mut self, raw: &[u8]) {
        self.tables_dirty = true;
        if let Some(n) = self.tables.get_mut(raw) {
            *n += 1;
            return;
        }
        let key: &[u8] = if self.tables.len() < MAX_TABLES {
            raw
        } else {
            OTHER_TABLES.as_bytes()
        };
        *self.tables.entry(key.into()).or_insert(0) += 1;
    }
}

/// Shared, live-readable counters.
#[derive(Default)]
pub struct Counters {
    seq: AtomicU64,
    frames: AtomicU64,
    bytes: AtomicU64,
    data_frames: AtomicU64,
    checkpoint_frames: AtomicU64,
    invalid_frames: AtomicU64,
    skipped: AtomicU64,
    dead_lettered: AtomicU64,
    bytes_read: AtomicU64,
    log_lines: AtomicU64,
    checkpoints_withheld: AtomicU64,
    tables: Mutex<TableMap>,
}

impl Counters {
    /// Publishes `local`'s totals. Only the pump thread calls this (single writer).
    pub fn publish(&self, local: &mut Local, force_tables: bool) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.frames.store(local.frames, Ordering::Relaxed);
        self.bytes.store(local.bytes, Ordering::Relaxed);
        self.data_frames.store(local.data_frames, Ordering::Relaxed);
        self.checkpoint_frames
            .store(local.checkpoint_frames, Ordering::Relaxed);
        self.invalid_frames
            .store(local.invalid_frames, Ordering::Relaxed);
        self.skipped.store(local.skipped, Ordering::Relaxed);
        self.dead_lettered
            .store(local.dead_lettered, Ordering::Relaxed);
        self.bytes_read.store(local.bytes_read, Ordering::Relaxed);
        self.log_lines.store(local.log_lines, Ordering::Relaxed);
        self.checkpoints_withheld
            .store(local.checkpoints_withheld, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);

        if local.tables_dirty {
            let now = Instant::now();
            let due = match local.last_table_publish {
                None => true,
                Some(t) => now.duration_since(t) >= TABLE_PUBLISH_INTERVAL,
            };
            if force_tables || due {
                local.last_table_publish = Some(now);
                local.tables_dirty = false;
                let mut shared = self.tables.lock().unwrap_or_else(|e| e.into_inner());
                for (k, v) in &local.tables {
                    match shared.get_mut(k) {
                        Some(n) => *n = *v,
                        None => {
                            shared.insert(k.clone(), *v);
                        }
                    }
                }
            }
        }
    }

    /// A consistent snapshot; callable from any thread at any time.
    pub fn snapshot(&self) -> Snapshot {
        let mut snap = loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let snap = Snapshot {
                frames: self.frames.load(Ordering::Relaxed),
                bytes: self.bytes.load(Ordering::Relaxed),
                data_frames: self.data_frames.load(Ordering::Relaxed),
                checkpoint_frames: self.checkpoint_frames.load(Ordering::Relaxed),
                invalid_frames: self.invalid_frames.load(Ordering::Relaxed),
                skipped: self.skipped.load(Ordering::Relaxed),
                dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
                bytes_read: self.bytes_read.load(Ordering::Relaxed),
                log_lines: self.log_lines.load(Ordering::Relaxed),
                checkpoints_withheld: self.checkpoints_withheld.load(Ordering::Relaxed),
                tables: Vec::new(),
            };
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                break snap;
            }
        };
        let shared = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let mut tables: Vec<(String, u64)> =
            shared.iter().map(|(k, v)| (unescape(k), *v)).collect();
        drop(shared);
        tables.sort();
        // two raw spellings of one name ("a" and "\u0061") decode to the same key
        tables.dedup_by(|b, a| {
            if a.0 == b.0 {
                a.1 += b.1;
                true
            } else {
                false
            }
        });
        snap.tables = tables;
        snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_and_snapshot() {
        let c = Counters::default();
        let mut l = Local {
            frames: 3,
            bytes: 30,
            ..Default::default()
        };
        l.count_table(b"a");
        l.count_table(b"a");
        l.count_table(b"\\u0061");
        l.count_table(b"b");
        c.publish(&mut l, true);
        let s = c.snapshot();
        assert_eq!(s.frames, 3);
        assert_eq!(s.bytes, 30);
        assert_eq!(s.tables, vec![("a".to_string(), 3), ("b".to_string(), 1)]);
    }

    #[test]
    fn table_cap() {
        let mut l = Local::default();
        for i in 0..MAX_TABLES + 10 {
            l.count_table(format!("t{i}").as_bytes());
        }
        let c = Counters::default();
        c.publish(&mut l, true);
        let s = c.snapshot();
        assert_eq!(s.tables.len(), MAX_TABLES + 1);
        let other = s.tables.iter().find(|(k, _)| k == OTHER_TABLES).unwrap();
        assert_eq!(other.1, 10);
    }
}
