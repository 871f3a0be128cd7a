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

/// The per-table counts a pump keeps: one count per name, found for most frames
/// through [`TableCounts::recent`] without hashing the name into the map. A change
/// stream names a few tables over and over, and a name of up to 16 bytes is two
/// words and its length: compared, not hashed and looked up (~110 instructions a
/// frame before).
struct TableCounts {
    /// Each name counted, with its index in `counts`.
    index: HashMap<Box<[u8]>, usize, BuildHasherDefault<FxHasher>>,
    counts: Vec<u64>,
    /// Short names seen lately, by a hash of their words: a slot holds a name's words
    /// and its index, and another name of that slot takes it over.
    recent: [RecentName; TableCounts::RECENT],
}

impl Default for TableCounts {
    fn default() -> TableCounts {
        TableCounts {
            index: HashMap::default(),
            counts: Vec::new(),
            recent: [RecentName {
                name: ShortName::NONE,
                at: 0,
            }; TableCounts::RECENT],
        }
    }
}

/// A name of at most 16 bytes as [`ShortName::of`] reads it, and its count's index.
#[derive(Clone, Copy, PartialEq, Eq)]
struct RecentName {
    name: ShortName,
    at: usize,
}

/// A name of at most 16 bytes: its length and two words that cover all its bytes (the
/// first and the last 8, 4, or the first, middle and last byte), so equal values are
/// equal names.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ShortName {
    len: usize,
    a: u64,
    b: u64,
}

impl ShortName {
    /// No name: its length is more than 16.
    const NONE: ShortName = ShortName {
        len: usize::MAX,
        a: 0,
        b: 0,
    };

    #[inline]
    fn of(raw: &[u8]) -> Option<ShortName> {
        let len = raw.len();
        let word = |k: usize| u64::from_le_bytes(raw[k..k + 8].try_into().unwrap());
        let half = |k: usize| u32::from_le_bytes(raw[k..k + 4].try_into().unwrap()) as u64;
        let (a, b) = match len {
            8..=16 => (word(0), word(len - 8)),
            4..=7 => (half(0), half(len - 4)),
            1..=3 => (
                raw[0] as u64 | (raw[len / 2] as u64) << 8 | (raw[len - 1] as u64) << 16,
                0,
            ),
            0 => (0, 0),
            _ => return None,
        };
        Some(ShortName { len, a, b })
    }

    /// Its slot among [`TableCounts::RECENT`].
    #[inline]
    fn slot(&self) -> usize {
        let h = (self.a ^ self.b.rotate_left(29) ^ self.len as u64).wrapping_mul(SEED);
        (h >> (64 - TableCounts::RECENT.trailing_zeros())) as usize
    }
}

impl TableCounts {
    /// Short names remembered (a power of two).
    const RECENT: usize = 64;

    #[inline]
    fn count(&mut self, raw: &[u8]) {
        let Some(name) = ShortName::of(raw) else {
            let at = self.at(raw);
            self.counts[at] += 1;
            return;
        };
        let slot = name.slot();
        let at = if self.recent[slot].name == name {
            self.recent[slot].at
        } else {
            let at = self.at(raw);
            self.recent[slot] = RecentName { name, at };
            at
        };
        self.counts[at] += 1;
    }

    /// The index of `raw`'s count, a new one for a new name; beyond [`MAX_TABLES`]
    /// names, [`OTHER_TABLES`]'.
    #[cold]
    fn at(&mut self, raw: &[u8]) -> usize {
        if let Some(&at) = self.index.get(raw) {
            return at;
        }
        let key: &[u8] = if self.index.len() < MAX_TABLES {
            raw
        } else {
            OTHER_TABLES.as_bytes()
        };
        let next = self.counts.len();
        let at = *self.index.entry(key.into()).or_insert(next);
        if at == next {
            self.counts.push(0);
        }
        at
    }

    /// Each name and its count, in no order (the one caller publishes them into a map).
    fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.index.iter().map(|(n, &at)| (&n[..], self.counts[at]))
    }
}

/// The one list of a pump's counters, each with its meaning: `$m! { name: "help", ... }`.
///
/// Everything that names the counters derives from it: [`COUNTERS`], [`Snapshot`],
/// [`Local`] and [`Counters`] here, the binding's `Counters` class and
/// `dstream._core.COUNTERS`, and through that the Python runtime and the docs (checked
/// by tests/core/test_counters.py). Adding a counter here adds it everywhere.
///
/// `frames`, first, is not counted but derived, where counters are read
/// ([`Local::frames`], [`Snapshot`]): every valid frame forwarded is a data frame or a
/// checkpoint.
#[macro_export]
macro_rules! with_counters {
    ($m:ident) => {
        $m! {
            frames: "valid frames forwarded (data + checkpoints)",
            bytes: "bytes forwarded, newlines included",
            data_frames: "data frames forwarded",
            checkpoint_frames: "checkpoint frames forwarded",
            invalid_frames: "invalid frames: skipped + dead_lettered, + those that failed a run (the one under fail, any the dead-letter file could not take)",
            skipped: "invalid frames dropped (policy skip)",
            dead_lettered: "invalid frames written to the dead-letter file and synced to disk (policy dead_letter)",
            bytes_read: "bytes taken from the input, prefix included",
            log_lines: "stdout lines of a legacy input taken as its log",
            checkpoints_withheld: "checkpoint frames not forwarded (the output does not acknowledge)",
            checkpoints_coalesced: "checkpoint frames not forwarded while MAX_IN_FLIGHT_CHECKPOINTS forwarded ones awaited acknowledgement (the newest goes out once there is room, or at the end of the stream)",
        }
    };
}

/// The counters' types from [`with_counters`]' list; `frames` (its first) is matched
/// apart, as it is derived: a snapshot has it, the totals kept and shared do not.
macro_rules! define_counters {
    (frames: $frames_help:literal, $($name:ident: $help:literal,)*) => {
        /// Every counter's name and meaning, in a fixed order.
        pub const COUNTERS: &[(&str, &str)] =
            &[("frames", $frames_help), $((stringify!($name), $help)),*];

        /// A consistent snapshot of a pump's counters.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Snapshot {
            #[doc = $frames_help]
            pub frames: u64,
            $(#[doc = $help] pub $name: u64,)*
            /// Data frames per decoded `metadata.TableName`, sorted by name.
            pub tables: Vec<(String, u64)>,
        }

        impl Snapshot {
            /// Every counter as (name, value), in [`COUNTERS`] order (`tables` aside).
            pub fn values(&self) -> [(&'static str, u64); COUNTERS.len()] {
                [("frames", self.frames), $((stringify!($name), self.$name)),*]
            }
        }

        /// The pump's private running totals (`frames` aside: [`Local::frames`]).
        #[derive(Default)]
        pub struct Local {
            $(#[doc = $help] pub $name: u64,)*
            tables: TableCounts,
            tables_dirty: bool,
            last_table_publish: Option<Instant>,
        }

        /// The shared copies of the totals, written under [`Counters`]' seqlock.
        #[derive(Default)]
        struct Values {
            $($name: AtomicU64,)*
        }

        impl Values {
            fn store(&self, local: &Local) {
                $(self.$name.store(local.$name, Ordering::Relaxed);)*
            }

            fn load(&self) -> Snapshot {
                let mut snap = Snapshot {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                    ..Snapshot::default()
                };
                snap.frames = frames(snap.data_frames, snap.checkpoint_frames);
                snap
            }
        }
    };
}

with_counters!(define_counters);

/// The `frames` counter: valid frames forwarded, each a data frame or a checkpoint.
#[inline]
fn frames(data_frames: u64, checkpoint_frames: u64) -> u64 {
    data_frames + checkpoint_frames
}

impl Local {
    /// Valid frames forwarded so far (the `frames` counter).
    #[inline]
    pub fn frames(&self) -> u64 {
        frames(self.data_frames, self.checkpoint_frames)
    }

    /// Counts one data frame of table `raw` (the JSON string body, escapes kept).
    #[inline]
    pub fn count_table(&mut self, raw: &[u8]) {
        self.tables_dirty = true;
        self.tables.count(raw);
    }
}

/// Shared, live-readable counters.
#[derive(Default)]
pub struct Counters {
    seq: AtomicU64,
    values: Values,
    tables: Mutex<TableMap>,
}

impl Counters {
    /// Publishes `local`'s totals. Only the pump thread calls this (single writer).
    pub fn publish(&self, local: &mut Local, force_tables: bool) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.values.store(local);
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
                for (k, v) in local.tables.iter() {
                    match shared.get_mut(k) {
                        Some(n) => *n = v,
                        None => {
                            shared.insert(k.into(), v);
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
            let snap = self.values.load();
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
            data_frames: 2,
            checkpoint_frames: 1,
            bytes: 30,
            ..Default::default()
        };
        l.count_table(b"a");
        l.count_table(b"a");
        l.count_table(b"\\u0061");
        l.count_table(b"b");
        c.publish(&mut l, true);
        let s = c.snapshot();
        assert_eq!((l.frames(), s.frames), (3, 3));
        assert_eq!((s.data_frames, s.checkpoint_frames, s.bytes), (2, 1, 30));
        assert_eq!(s.tables, vec![("a".to_string(), 3), ("b".to_string(), 1)]);
    }

    #[test]
    fn one_list_of_counters() {
        let names: Vec<&str> = COUNTERS.iter().map(|(name, _)| *name).collect();
        let values: Vec<&str> = Snapshot::default().values().map(|(name, _)| name).to_vec();
        assert_eq!(names, values);
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert!(COUNTERS.iter().all(|(_, help)| !help.is_empty()));
    }

    /// Names of every length around the short names' words, alike but for one byte or
    /// their length, each counted in turn with the others and right after each other of
    /// its length (so a name's slot among the recent ones is often another's the frame
    /// before): the counts of a plain map.
    #[test]
    fn table_counts_are_a_maps_whatever_the_recent_names() {
        let mut names: Vec<Vec<u8>> = Vec::new();
        for len in 0..=20 {
            let base: Vec<u8> = (0..len).map(|k| b'a' + (k % 26) as u8).collect();
            names.push(base.clone());
            for k in 0..len {
                let mut near = base.clone();
                near[k] = b'Z';
                names.push(near);
            }
        }
        names.push(b"\\u0061".to_vec()); // escaped: counted raw, merged when read
        let (mut l, mut want) = (Local::default(), HashMap::<Vec<u8>, u64>::new());
        // a few names over and over, then all of them in one order and another
        let order = (0..3000)
            .map(|k| k % 7)
            .chain(0..names.len())
            .chain((0..names.len()).rev());
        for k in order.chain((0..names.len() * 5).map(|k| k * 7919 % names.len())) {
            l.count_table(&names[k]);
            *want.entry(names[k].clone()).or_insert(0) += 1;
        }
        // each name right after each other of its length: one that read as the other
        // would be counted as it
        for x in &names {
            for y in names.iter().filter(|y| y.len() == x.len()) {
                for name in [x, y] {
                    l.count_table(name);
                    *want.entry(name.clone()).or_insert(0) += 1;
                }
            }
        }
        let got: HashMap<Vec<u8>, u64> = l.tables.iter().map(|(k, v)| (k.to_vec(), v)).collect();
        assert_eq!(got, want);
        assert!(ShortName::of(&[b'x'; 16]).is_some() && ShortName::of(&[b'x'; 17]).is_none());
    }

    #[test]
    fn table_cap() {
        let mut l = Local::default();
        // each name twice in a row: the second count finds the name's recent slot, which
        // for a name over the cap holds the other tables' count
        for i in 0..MAX_TABLES + 10 {
            for _ in 0..2 {
                l.count_table(format!("t{i}").as_bytes());
            }
        }
        let c = Counters::default();
        c.publish(&mut l, true);
        let s = c.snapshot();
        assert_eq!(s.tables.len(), MAX_TABLES + 1);
        let (other, named): (Vec<_>, Vec<_>) =
            s.tables.iter().partition(|(k, _)| k == OTHER_TABLES);
        assert_eq!(other, [&(OTHER_TABLES.to_string(), 20)]);
        assert!(named.iter().all(|(_, n)| *n == 2), "{named:?}");
    }
}
