//! The fast walk: accepts the common shape of a frame with fewer instructions per JSON
//! token than [`super::strict`]. It never reports an error: anything it does not accept
//! (invalid JSON, but also whitespace between tokens, escaped keys, deep nesting) goes
//! to the strict walk, which alone decides and explains. So it may only ever
//! accept what the strict walk accepts, with the same [`FrameInfo`].

use super::scan::{find_special, parse_escape, parse_number};
use super::FrameInfo;
use crate::frame::{KEY_CHECKPOINT, KEY_DATA, KEY_METADATA, MAX_DEPTH, META_TABLE};

/// Deepest nesting the fast walk follows (one `u64` of container kinds).
const FAST_DEPTH: u32 = if MAX_DEPTH < 64 { MAX_DEPTH as u32 } else { 64 };

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

// The keys of interest as little-endian words: compared without `memcmp`.
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

#[inline(always)]
fn at(s: &[u8], i: usize) -> Option<u8> {
    s.get(i).copied()
}

/// String body from `i` (just after the opening quote): index after the closing quote,
/// and whether the body had escapes.
#[inline(always)]
fn string(s: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        i = find_special(s, i);
        match at(s, i)? {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                i = parse_escape(s, i).ok()?;
            }
            _ => return None,
        }
    }
}

/// `s[i]` should be a key's opening quote: index after its colon, the key's body, and
/// whether it had escapes.
#[inline(always)]
fn key(s: &[u8], i: usize) -> Option<(usize, &[u8], bool)> {
    if at(s, i)? != b'"' {
        return None;
    }
    let (end, esc) = string(s, i + 1)?;
    if at(s, end)? != b':' {
        return None;
    }
    Some((end + 1, &s[i + 1..end - 1], esc))
}

#[inline(always)]
fn literal(s: &[u8], i: usize, lit: &'static [u8; 4]) -> Option<usize> {
    let w = s.get(i..i + 4)?;
    (w == lit).then_some(i + 4)
}

/// A scalar value at `s[i]`, or `None` for a container (or an invalid byte).
#[inline(always)]
fn scalar(s: &[u8], i: usize, c: u8) -> Option<usize> {
    match c {
        b'"' => string(s, i + 1).map(|(end, _)| end),
        b'-' | b'0'..=b'9' => parse_number(s, i).ok(),
        b't' => literal(s, i, b"true"),
        b'n' => literal(s, i, b"null"),
        b'f' => (s.get(i + 1..i + 5)? == b"alse").then_some(i + 5),
        _ => None,
    }
}

/// Any value at `s[i]`; `depth` containers are open around it. Index after it.
#[inline(always)]
fn value(s: &[u8], i: usize, depth: u32) -> Option<usize> {
    let c = at(s, i)?;
    if c == b'{' || c == b'[' {
        nested(s, i, depth)
    } else {
        scalar(s, i, c)
    }
}

/// An object or array at `s[i]` with everything in it.
fn nested(s: &[u8], mut i: usize, outer: u32) -> Option<usize> {
    let mut kinds: u64 = 0; // bit k set: the container k levels down is an object
    let mut depth: u32 = 0;
    'value: loop {
        let c = at(s, i)?;
        if c == b'{' || c == b'[' {
            depth += 1;
            if outer + depth > FAST_DEPTH {
                return None;
            }
            let obj = c == b'{';
            kinds = kinds << 1 | obj as u64;
            let close = if obj { b'}' } else { b']' };
            if at(s, i + 1)? == close {
                i += 2;
                depth -= 1;
                kinds >>= 1;
            } else if obj {
                i = key(s, i + 1)?.0;
                continue 'value;
            } else {
                i += 1;
                continue 'value;
            }
        } else {
            i = scalar(s, i, c)?;
        }
        // after a value
        while depth > 0 {
            let obj = kinds & 1 != 0;
            match at(s, i)? {
                b',' => {
                    i = if obj { key(s, i + 1)?.0 } else { i + 1 };
                    continue 'value;
                }
                b'}' if obj => {}
                b']' if !obj => {}
                _ => return None,
            }
            i += 1;
            depth -= 1;
            kinds >>= 1;
        }
        return Some(i);
    }
}

/// The value of a top-level `metadata` key at `s[i]`: its `TableName` string.
#[inline(always)]
fn metadata(s: &[u8], mut i: usize, info: &mut FrameInfo) -> Option<usize> {
    if at(s, i)? != b'{' {
        return value(s, i, 1);
    }
    i += 1;
    if at(s, i)? == b'}' {
        return Some(i + 1);
    }
    loop {
        let (v, raw, esc) = key(s, i)?;
        if esc {
            return None;
        }
        if raw.len() == 9
            && u64::from_le_bytes(raw[..8].try_into().unwrap()) == TABLE.0
            && raw[8] == TABLE.1
            && at(s, v)? == b'"'
        {
            let (end, escaped) = string(s, v + 1)?;
            info.table = Some((v + 1, end - 1));
            info.table_escaped = escaped;
            i = end;
        } else {
            i = value(s, v, 2)?;
        }
        match at(s, i)? {
            b',' => i += 1,
            b'}' => return Some(i + 1),
            _ => return None,
        }
    }
}

/// Accepts `s` (UTF-8 already checked) when it is a valid frame of the common shape.
#[inline]
pub(super) fn accept(s: &[u8]) -> Option<FrameInfo> {
    accept_prefix(s).and_then(|(len, info)| (len == s.len()).then_some(info))
}

/// Accepts the object at the start of `s`, if it has the common shape: its length and
/// findings. The bytes after it are not looked at; the object holds no byte below
/// 0x20 (no `\n`): none is allowed outside strings here, and none unescaped inside.
#[inline(always)]
pub(super) fn accept_prefix(s: &[u8]) -> Option<(usize, FrameInfo)> {
    let mut info = FrameInfo::default();
    if at(s, 0)? != b'{' {
        return None;
    }
    let mut i = 1;
    if at(s, i)? == b'}' {
        return Some((2, info));
    }
    loop {
        let (v, raw, esc) = key(s, i)?;
        if esc {
            return None;
        }
        i = if raw.len() == 8 && u64::from_le_bytes(raw.try_into().unwrap()) == METADATA {
            metadata(s, v, &mut info)?
        } else {
            match raw.len() {
                4 => info.has_data |= u32::from_le_bytes(raw.try_into().unwrap()) == DATA,
                10 => {
                    info.has_checkpoint |= u64::from_le_bytes(raw[..8].try_into().unwrap())
                        == CHECKPOINT.0
                        && u16::from_le_bytes(raw[8..].try_into().unwrap()) == CHECKPOINT.1
                }
                _ => {}
            }
            value(s, v, 1)?
        };
        match at(s, i)? {
            b',' => i += 1,
            b'}' => return Some((i + 1, info)),
            _ => return None,
        }
    }
}

/// Whether the pump tries the fast walk on the next frame. A provider writes all its
/// frames the same way, so once the walk has refused [`FastWalkGate::REFUSALS`] frames in
/// a row (a provider writing spaced JSON, say), it is tried on one frame in
/// [`FastWalkGate::PAUSE`] only, until it takes one again; the others go to the strict
/// walk without the attempt (~90 instructions a frame).
#[derive(Debug, Default)]
pub struct FastWalkGate {
    refusals: u32,
    pause: u32,
}

impl FastWalkGate {
    pub const REFUSALS: u32 = 16;
    pub const PAUSE: u32 = 256;

    /// True when the next frame should get the fast walk.
    #[inline]
    pub fn open(&mut self) -> bool {
        if self.pause == 0 {
            return true;
        }
        self.pause -= 1;
        false
    }

    /// What the fast walk made of the frame it was tried on.
    #[inline]
    pub fn record(&mut self, taken: bool) {
        if taken {
            self.refusals = 0;
        } else {
            self.refusals += 1;
            if self.refusals == Self::REFUSALS {
                self.refusals = 0;
                self.pause = Self::PAUSE;
            }
        }
    }
}
