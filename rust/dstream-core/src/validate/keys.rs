//! Keys the fast walk knows before it scans them: `data`, `checkpoint` and `metadata` at
//! the top of a frame and `TableName` in `metadata`, recognised without `memcmp` (a key's
//! body as little-endian words, or a compact member's first bytes, `"data":`, as one
//! 16-byte word); and, in the pump, the keys of the input's last frame ([`KeyMemory`]),
//! with the shape of the value each had (a plain string's or a number's length).
//!
//! Matching a member's first bytes is for speed of another kind than instructions.
//! Where a scanned key ends is known only once its bytes are loaded and searched, and
//! every later step of the walk waits for it: on an envelope, those waits, once per
//! key, take more of the walk's time than its instruction count. A member whose first
//! bytes match is a key of known length: where its value starts is `i` plus a length
//! known beforehand, and the CPU goes on with the value while it checks the comparison,
//! which it predicts.

use super::scan::{string_of_len, Digits};
use crate::frame::{KEY_CHECKPOINT, KEY_DATA, KEY_METADATA, META_TABLE};

/// `N` bytes of `key` from `from`, at compile time.
const fn bytes<const N: usize>(key: &[u8], from: usize) -> [u8; N] {
    let mut out = [0u8; N];
    let mut k = 0;
    while k < N {
        out[k] = key[from + k];
        k += 1;
    }
    out
}

// The keys' bodies as little-endian words.
const _: () = assert!(
    KEY_DATA.len() == 4
        && KEY_METADATA.len() == 8
        && KEY_CHECKPOINT.len() == 10
        && META_TABLE.len() == 9
);
const DATA: u32 = u32::from_le_bytes(bytes(KEY_DATA, 0));
const METADATA: u64 = u64::from_le_bytes(bytes(KEY_METADATA, 0));
const CHECKPOINT: (u64, u16) = (
    u64::from_le_bytes(bytes(KEY_CHECKPOINT, 0)),
    u16::from_le_bytes(bytes(KEY_CHECKPOINT, 8)),
);
const TABLE: (u64, u8) = (u64::from_le_bytes(bytes(META_TABLE, 0)), META_TABLE[8]);

/// What a top-level key is to the pump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Top {
    Data,
    Metadata,
    Checkpoint,
    Other,
}

impl Top {
    /// The kind of the top-level key whose body (without escapes) is `raw`.
    #[inline(always)]
    pub(super) fn of(raw: &[u8]) -> Top {
        match raw.len() {
            4 if u32::from_le_bytes(raw.try_into().unwrap()) == DATA => Top::Data,
            8 if u64::from_le_bytes(raw.try_into().unwrap()) == METADATA => Top::Metadata,
            10 if u64::from_le_bytes(raw[..8].try_into().unwrap()) == CHECKPOINT.0
                && u16::from_le_bytes(raw[8..].try_into().unwrap()) == CHECKPOINT.1 =>
            {
                Top::Checkpoint
            }
            _ => Top::Other,
        }
    }
}

/// Whether the key body `raw` (without escapes) is `TableName`.
#[inline(always)]
pub(super) fn is_table(raw: &[u8]) -> bool {
    raw.len() == 9
        && u64::from_le_bytes(raw[..8].try_into().unwrap()) == TABLE.0
        && raw[8] == TABLE.1
}

/// The mask of a little-endian `u128`'s first `len` bytes (at most 16).
const fn mask(len: usize) -> u128 {
    if len >= 16 {
        u128::MAX
    } else {
        (1 << (8 * len)) - 1
    }
}

/// A member of a compact object as it starts, `"key":`, the quotes and the colon
/// included: its bytes as a little-endian `u128` (zero-padded), the mask of those
/// bytes, their number, and whether the key is `TableName`.
#[derive(Debug, Clone, Copy)]
struct MemberStart {
    word: u128,
    mask: u128,
    len: usize,
    table: bool,
}

impl MemberStart {
    /// Starts no member: no 16 bytes `w` have `w & 0 == 1`.
    const NONE: MemberStart = MemberStart {
        word: 1,
        mask: 0,
        len: 0,
        table: false,
    };

    /// The `len` bytes at `s[i]`, a member's start the walk has scanned (see
    /// [`KeyMemory::learn`]), when 16 bytes are there and `len` is 1 to 16 (with no
    /// byte, the mask would take any bytes for this start).
    #[inline(always)]
    fn at(s: &[u8], i: usize, len: usize) -> Option<MemberStart> {
        if !(1..=16).contains(&len) {
            return None;
        }
        let mask = mask(len);
        let word = word16(s, i)? & mask;
        Some(MemberStart {
            word,
            mask,
            len,
            table: len == TABLE_MEMBER.len && word == TABLE_MEMBER.word,
        })
    }

    const fn of(key: &[u8]) -> MemberStart {
        let len = key.len() + 3;
        assert!(len <= 16);
        let mut bytes = [0u8; 16];
        bytes[0] = b'"';
        let mut k = 0;
        while k < key.len() {
            bytes[k + 1] = key[k];
            k += 1;
        }
        bytes[len - 2] = b'"';
        bytes[len - 1] = b':';
        MemberStart {
            word: u128::from_le_bytes(bytes),
            mask: mask(len),
            len,
            table: false, // the keys of interest are matched by name, not remembered
        }
    }

    /// Whether the 16 bytes `w` (little-endian) begin with this member's start.
    #[inline(always)]
    fn starts(self, w: u128) -> bool {
        w & self.mask == self.word
    }
}

const DATA_MEMBER: MemberStart = MemberStart::of(KEY_DATA);
const METADATA_MEMBER: MemberStart = MemberStart::of(KEY_METADATA);
const CHECKPOINT_MEMBER: MemberStart = MemberStart::of(KEY_CHECKPOINT);
const TABLE_MEMBER: MemberStart = MemberStart::of(META_TABLE);

/// The 16 bytes from `s[i]` as a little-endian `u128`, when there are 16.
#[inline(always)]
fn word16(s: &[u8], i: usize) -> Option<u128> {
    Some(u128::from_le_bytes(s.get(i..i + 16)?.try_into().unwrap()))
}

/// The top-level key of interest whose compact member starts at `s[i]`, and where its
/// value starts. None: no such member there (another key, an escaped or spaced one, or
/// fewer than 16 bytes left), for the walk to scan.
#[inline(always)]
pub(super) fn top_member(s: &[u8], i: usize) -> Option<(Top, usize)> {
    let w = word16(s, i)?;
    if DATA_MEMBER.starts(w) {
        Some((Top::Data, i + DATA_MEMBER.len))
    } else if METADATA_MEMBER.starts(w) {
        Some((Top::Metadata, i + METADATA_MEMBER.len))
    } else if CHECKPOINT_MEMBER.starts(w) {
        Some((Top::Checkpoint, i + CHECKPOINT_MEMBER.len))
    } else {
        None
    }
}

/// Where the value starts when a compact `TableName` member starts at `s[i]`.
#[inline(always)]
pub(super) fn table_member(s: &[u8], i: usize) -> Option<usize> {
    word16(s, i)
        .filter(|&w| TABLE_MEMBER.starts(w))
        .map(|_| i + TABLE_MEMBER.len)
}

/// Where the keys the walk scans in an input's frames are remembered: the first
/// [`KeyMemory::PLACES`] keys of the objects under a frame's top level, in the frame's
/// order (`data`'s members, `metadata`'s, those of any other top-level key whose value
/// is an object), numbered across those objects; and the shape of each one's value.
pub(super) trait Recall {
    /// Where the value starts when the key scanned last at `place` starts at `s[i]`, and
    /// whether that key is `TableName` (which makes it the table in `metadata` only:
    /// the caller knows where it is).
    fn recall(&self, s: &[u8], i: usize, place: usize) -> Option<(usize, bool)>;
    /// The walk scanned a key without escapes at `s[i]`, its value at `s[v]`.
    fn learn(&mut self, s: &[u8], i: usize, v: usize, place: usize);
    /// Where the value at `s[v]` ends when it has the shape of the value walked last at
    /// `place`: a string of the same length without escapes, or a number of as many
    /// digits (see [`Shape`]). None: walk it.
    fn value_end(&self, s: &[u8], v: usize, place: usize) -> Option<usize>;
    /// The walk found the value `s[v..end]` at `place` (its shape was not the one
    /// remembered there).
    fn learn_value(&mut self, s: &[u8], v: usize, end: usize, place: usize);
}

/// Nothing remembered: the walk of a single frame ([`super::validate`]).
impl Recall for () {
    #[inline(always)]
    fn recall(&self, _s: &[u8], _i: usize, _place: usize) -> Option<(usize, bool)> {
        None
    }

    #[inline(always)]
    fn learn(&mut self, _s: &[u8], _i: usize, _v: usize, _place: usize) {}

    #[inline(always)]
    fn value_end(&self, _s: &[u8], _v: usize, _place: usize) -> Option<usize> {
        None
    }

    #[inline(always)]
    fn learn_value(&mut self, _s: &[u8], _v: usize, _end: usize, _place: usize) {}
}

/// The shape of a value a place held in the last frame, which the next frame's value
/// there likely has too (a timestamp, a counter, an identifier of fixed width): a
/// string whose body is that many bytes without `"`, `\` or control bytes, or a
/// number of that many digits alone with the same byte after it. Checked whole (see
/// [`string_of_len`] and [`Digits`]), the value's end is known before its bytes are
/// searched, as a remembered key's is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Not learnt yet, or the last value was too long to have a shape.
    Unknown,
    String(u8),
    Digits(Digits),
    /// The place's value missed the shape remembered for it: its shapes vary (the table
    /// names of a change stream of several tables), where a check that fails and a
    /// relearn on most frames cost more than the walk alone; or its value had no shape
    /// (`null`, `12.5`, `-3`, an escape), which a relearn on every frame would find
    /// again. Neither checked nor learnt for this many more frames, then learnt again (a
    /// value that changed its shape for good, a counter with one more digit, is
    /// predicted again after that).
    Varies(u8),
}

impl Shape {
    /// The longest value that can have a shape: a string body of 31 bytes and quotes.
    const MAX_LEN: usize = 33;
    /// Frames a place is walked without a shape after a miss: a miss and a relearn in
    /// every 33 frames where shapes vary, 32 frames walked where a shape changed once
    /// (measured: 15 or 63 cost the counter envelope or the rotating tables more).
    const REST: u8 = 31;

    /// The shape of the value `s[v..end]`, which the walk took; only a shape that the
    /// check of the next frame's value can take (no escapes, no sign, fraction or
    /// exponent). A value without one makes its place rest as a miss does, so that a
    /// value that never fits costs this once in [`Shape::REST`] + 1 frames, not on every
    /// frame. Not inlined: in a steady input a place's value keeps its shape, or rests.
    #[cold]
    #[inline(never)]
    fn of(s: &[u8], v: usize, end: usize) -> Shape {
        let len = end - v;
        let shape = match s[v] {
            b'"' if string_of_len(s, v + 1, len - 2) == Some(end) => {
                Some(Shape::String(len as u8 - 2))
            }
            b'0'..=b'9' => Digits::of(s, v, end).map(Shape::Digits),
            _ => None,
        };
        shape.unwrap_or(Shape::Varies(Shape::REST))
    }
}

/// The keys of an input's last frames, for the pump's fast walk. A provider writes its
/// frames alike, so the key in a place of the next frame is likely the one scanned
/// there last: compared first as a whole member start, it needs no scan, and where its
/// value starts is known beforehand (see the module's comment); and its value likely
/// has the last one's [`Shape`]. A remembered start only ever matches the very bytes of
/// a key that the walk scanned and found plain (no escapes, the colon right after it),
/// and a remembered shape only a value whose every byte is checked as the walk would,
/// so whether the walk accepts a frame, and what it finds in it, does not depend on
/// what it remembers: only how fast it goes.
#[derive(Debug, Clone)]
pub(super) struct KeyMemory {
    starts: [MemberStart; KeyMemory::PLACES],
    shapes: [Shape; KeyMemory::PLACES],
}

impl KeyMemory {
    /// Keys remembered per frame (a row of a few columns and its metadata).
    pub(super) const PLACES: usize = 16;
}

impl Default for KeyMemory {
    fn default() -> KeyMemory {
        KeyMemory {
            starts: [MemberStart::NONE; KeyMemory::PLACES],
            shapes: [Shape::Unknown; KeyMemory::PLACES],
        }
    }
}

impl Recall for KeyMemory {
    #[inline(always)]
    fn recall(&self, s: &[u8], i: usize, place: usize) -> Option<(usize, bool)> {
        let start = self.starts.get(place)?;
        let w = word16(s, i)?;
        start.starts(w).then_some((i + start.len, start.table))
    }

    #[inline(always)]
    fn learn(&mut self, s: &[u8], i: usize, v: usize, place: usize) {
        if let Some(slot) = self.starts.get_mut(place) {
            *slot = MemberStart::at(s, i, v - i).unwrap_or(MemberStart::NONE);
        }
    }

    #[inline(always)]
    fn value_end(&self, s: &[u8], v: usize, place: usize) -> Option<usize> {
        match self.shapes.get(place)? {
            Shape::Digits(digits) => digits.end(s, v),
            &Shape::String(len) if *s.get(v)? == b'"' => string_of_len(s, v + 1, len as usize),
            _ => None,
        }
    }

    #[inline(always)]
    fn learn_value(&mut self, s: &[u8], v: usize, end: usize, place: usize) {
        let Some(slot) = self.shapes.get_mut(place) else {
            return;
        };
        // changed in place: a whole `Shape` (a `Digits`' five words) written back for
        // every value walked cost ~25 instructions a frame
        match slot {
            Shape::Varies(rest) if *rest > 0 => *rest -= 1,
            // `value_end` found another shape than this one: a miss
            Shape::String(_) | Shape::Digits(_) => *slot = Shape::Varies(Shape::REST),
            _ if end - v <= Shape::MAX_LEN => *slot = Shape::of(s, v, end),
            Shape::Varies(_) => *slot = Shape::Unknown,
            Shape::Unknown => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_starts_are_the_compact_members() {
        let padded = |text: &[u8]| {
            let mut b = [b'x'; 16];
            b[..text.len()].copy_from_slice(text);
            b
        };
        assert_eq!(top_member(&padded(b"\"data\":{"), 0), Some((Top::Data, 7)));
        assert_eq!(
            top_member(&padded(b"\"metadata\":{"), 0),
            Some((Top::Metadata, 11))
        );
        assert_eq!(
            top_member(b"{\"checkpoint\":{\"a\":1}}", 1),
            Some((Top::Checkpoint, 14))
        );
        assert_eq!(table_member(&padded(b"\"TableName\":\"t\""), 0), Some(12));
        // a byte off anywhere in the start, or fewer than 16 bytes: for the scan
        for near in [
            &b"\"data\" :"[..],
            b"\"datA\":",
            b"\"dat\":",
            b"\"datax\":",
            b"data\":",
            b"\"data\\\":",
            b"\"metadata\"x",
        ] {
            assert_eq!(top_member(&padded(near), 0), None, "{near:?}");
        }
        assert_eq!(top_member(b"\"data\":1}", 0), None);
        assert_eq!(table_member(&padded(b"\"TableName\" :"), 0), None);
        assert_eq!(table_member(&padded(b"\"TableNam\":"), 0), None);
    }

    #[test]
    fn a_remembered_key_matches_its_own_bytes_only() {
        let frame = b"{\"id\":1,\"name\":\"x\",\"a_key_of_fourteen\":2,\"p\":\"xxxxxxxxxxxxxxxx\"}";
        let mut memory = KeyMemory::default();
        assert_eq!(memory.recall(frame, 1, 0), None);
        memory.learn(frame, 1, 6, 0); // "id":
        memory.learn(frame, 8, 15, 1); // "name":
        assert_eq!(memory.recall(frame, 1, 0), Some((6, false)));
        assert_eq!(memory.recall(frame, 8, 1), Some((15, false)));
        // another place, another key, another byte: scanned again
        assert_eq!(memory.recall(frame, 8, 0), None);
        assert_eq!(memory.recall(frame, 1, 1), None);
        let other = b"{\"iD\":1,\"name\":\"x\"                }";
        assert_eq!(memory.recall(other, 1, 0), None);
        assert_eq!(memory.recall(other, 8, 1), Some((15, false)));
        // a member start of more than 16 bytes is not remembered, nor a place past the last
        memory.learn(frame, 19, 39, 2);
        assert_eq!(memory.recall(frame, 19, 2), None);
        memory.learn(frame, 1, 6, KeyMemory::PLACES);
        assert_eq!(memory.recall(frame, 1, KeyMemory::PLACES), None);
        // fewer than 16 bytes from the key: not compared
        assert_eq!(memory.recall(&frame[..16], 1, 0), None);
        assert_eq!(memory.recall(&frame[..17], 1, 0), Some((6, false)));
    }

    #[test]
    fn a_table_name_key_is_remembered_as_one() {
        let frame = b"{\"TableName\":1,\"TableNames\":2,\"p\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"}";
        let mut memory = KeyMemory::default();
        memory.learn(frame, 1, 13, 0); // "TableName":
        memory.learn(frame, 16, 29, 1); // "TableNames":, a key like another
        assert_eq!(memory.recall(frame, 1, 0), Some((13, true)));
        assert_eq!(memory.recall(frame, 16, 1), Some((29, false)));
    }

    #[test]
    fn a_remembered_shape_takes_its_own_length_only() {
        let frame = b"{\"a\":12345,\"b\":\"2026-12-06T11:04:09.681+00:00\",\"c\":\"t0\",\"d\":0}              ";
        let mut memory = KeyMemory::default();
        let (a, b, c, d) = (5, 15, 51, 60); // the values' starts
        assert_eq!(memory.value_end(frame, a, 0), None);
        for (place, (v, end)) in [(a, 10), (b, 46), (c, 55), (d, 61)].into_iter().enumerate() {
            memory.learn_value(frame, v, end, place);
            assert_eq!(
                memory.value_end(frame, v, place),
                Some(end),
                "place {place}"
            );
        }
        // another length, kind or byte: walked
        assert_eq!(memory.value_end(frame, a + 1, 0), None); // 4 digits
        assert_eq!(memory.value_end(frame, d, 0), None);
        assert_eq!(memory.value_end(frame, a, 1), None);
        assert_eq!(memory.value_end(frame, c, 1), None);
        let mut bytes = frame.to_vec();
        for (k, edit) in [
            (a + 5, b'0'),
            (a + 5, b'.'),
            (a + 5, b'e'),
            (a, b'0'),
            (a, b'-'),
            (a + 5, b'}'),
            // the bytes just above `9` (`:` to `?`) and just below `0` are no digits
            (a + 2, b':'),
            (a + 2, b'?'),
            (a + 2, b'/'),
            (a + 5, b'/'),
        ] {
            let mut edited = bytes.clone();
            edited[k] = edit;
            assert_eq!(memory.value_end(&edited, a, 0), None, "{:?}", edit as char);
        }
        for (k, edit) in [(b + 3, b'\\'), (b + 3, b'"'), (b + 3, 0x1f), (b + 30, b'x')] {
            let mut edited = bytes.clone();
            edited[k] = edit;
            assert_eq!(memory.value_end(&edited, b, 1), None, "{:?}", edit as char);
        }
        // a value not worth remembering: escaped, signed, a fraction, too long, no
        // string nor number (each learnt in a place with no shape: it rests, as after a
        // miss, `a_value_without_a_shape_rests`)
        bytes[c + 1] = b'\\';
        bytes[c + 2] = b'n';
        for (frame, v, end, place) in [
            (&bytes[..], c, 55, 2),
            (b"{\"a\":-1}                ", 5, 7, 0),
            (b"{\"a\":1.5}                ", 5, 8, 0),
            (b"{\"a\":12345678}               ", 5, 13, 0),
            (b"{\"a\":null}                ", 5, 9, 0),
            (b"{\"a\":true}                ", 5, 9, 0),
        ] {
            memory.shapes[place] = Shape::Unknown;
            memory.learn_value(frame, v, end, place);
            let text = String::from_utf8_lossy(&frame[v..end]);
            assert_eq!(memory.shapes[place], Shape::Varies(Shape::REST), "{text}");
            assert_eq!(memory.value_end(frame, v, place), None, "{text}");
        }
        // fewer than 8 bytes (digits), 16 (a string under 16) or 32 (a longer string) left
        // to load from the value's first byte or its body's: walked
        (memory.shapes[2], memory.shapes[3]) = (Shape::Unknown, Shape::Unknown);
        memory.learn_value(frame, d, 61, 3);
        assert_eq!(memory.value_end(&frame[..67], d, 3), None);
        assert_eq!(memory.value_end(&frame[..68], d, 3), Some(61));
        memory.learn_value(frame, c, 55, 2);
        assert_eq!(memory.value_end(&frame[..c + 16], c, 2), None);
        assert_eq!(memory.value_end(&frame[..c + 17], c, 2), Some(55));
        assert_eq!(memory.value_end(&frame[..b + 32], b, 1), None);
        assert_eq!(memory.value_end(&frame[..b + 33], b, 1), Some(46));
    }

    #[test]
    fn a_shape_that_varies_rests() {
        let frames: [&[u8]; 3] = [
            b"{\"TableName\":\"sales.items\"}                ",
            b"{\"TableName\":\"public.orders\"}              ",
            b"{\"TableName\":\"sales.items\"}                ",
        ];
        let ends = [26, 28, 26];
        let mut memory = KeyMemory::default();
        memory.learn_value(frames[0], 13, ends[0], 0);
        assert_eq!(memory.value_end(frames[0], 13, 0), Some(ends[0]));
        // a miss: the place rests, its shapes neither checked nor learnt
        assert_eq!(memory.value_end(frames[1], 13, 0), None);
        memory.learn_value(frames[1], 13, ends[1], 0);
        for rest in (0..Shape::REST).rev() {
            for frame in frames {
                assert_eq!(memory.value_end(frame, 13, 0), None);
            }
            memory.learn_value(frames[2], 13, ends[2], 0);
            assert_eq!(memory.shapes[0], Shape::Varies(rest));
        }
        // then learnt again
        memory.learn_value(frames[1], 13, ends[1], 0);
        assert_eq!(memory.value_end(frames[1], 13, 0), Some(ends[1]));
        assert_eq!(memory.value_end(frames[0], 13, 0), None);
    }

    /// A place whose value never has a shape rests as a varying one does: `Shape::of`
    /// once in `Shape::REST` + 1 frames, not on every frame.
    #[test]
    fn a_value_without_a_shape_rests() {
        let frame = b"{\"price\":12.5,\"n\":null}                ";
        let places = [(9, 13), (19, 23)];
        let mut memory = KeyMemory::default();
        for round in 0..3 {
            for (place, (v, end)) in places.into_iter().enumerate() {
                memory.learn_value(frame, v, end, place);
                assert_eq!(memory.shapes[place], Shape::Varies(Shape::REST), "{round}");
            }
            for rest in (0..Shape::REST).rev() {
                for (place, (v, end)) in places.into_iter().enumerate() {
                    assert_eq!(memory.value_end(frame, v, place), None);
                    memory.learn_value(frame, v, end, place);
                    assert_eq!(memory.shapes[place], Shape::Varies(rest));
                }
            }
        }
        // a value that gets a shape after all is learnt when the rest ends
        let digits = b"{\"price\":1250,\"n\":null}                ";
        memory.learn_value(digits, 9, 13, 0);
        assert_eq!(memory.value_end(digits, 9, 0), Some(13));
        assert_eq!(memory.value_end(frame, 9, 0), None);
    }

    #[test]
    fn masks_take_the_first_bytes() {
        assert_eq!(mask(1), 0xff);
        assert_eq!(mask(15), u128::MAX >> 8);
        assert_eq!(mask(16), u128::MAX);
        assert_eq!(TABLE_MEMBER.mask, mask(12));
    }

    #[test]
    fn bodies_are_the_keys() {
        assert_eq!(Top::of(KEY_DATA), Top::Data);
        assert_eq!(Top::of(KEY_METADATA), Top::Metadata);
        assert_eq!(Top::of(KEY_CHECKPOINT), Top::Checkpoint);
        for other in [
            &b"dat"[..],
            b"datA",
            b"metadatA",
            b"checkpoinT",
            b"",
            b"TableName",
        ] {
            assert_eq!(Top::of(other), Top::Other, "{other:?}");
        }
        assert!(is_table(META_TABLE));
        assert!(!is_table(b"TableNamE") && !is_table(b"TableNam"));
    }
}
