//! The fast walk: accepts the common shape of a frame with fewer instructions per JSON
//! token than [`super::strict`]. It never reports an error: anything it does not accept
//! (invalid JSON, but also whitespace between tokens, escaped keys, deep nesting) goes
//! to the strict walk, which alone decides and explains. So it may only ever
//! accept what the strict walk accepts, with the same [`FrameInfo`].

use super::keys::{self, KeyMemory, Recall, Top};
use super::scan::{find_special, parse_escape, parse_number};
use super::FrameInfo;
use crate::frame::MAX_DEPTH;

/// Deepest nesting the fast walk follows (one `u64` of container kinds).
const FAST_DEPTH: u32 = if MAX_DEPTH < 64 { MAX_DEPTH as u32 } else { 64 };

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
    // strings and numbers first, each with its own test: the match below would look
    // them up in a jump table after a range check
    if c == b'"' {
        return string(s, i + 1).map(|(end, _)| end);
    }
    if c == b'-' || c.is_ascii_digit() {
        return parse_number(s, i).ok();
    }
    match c {
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

/// The value of a top-level key at `s[i]`; with `META` (the `metadata` key's value) its
/// `TableName` string is recorded. An object is walked here, one member after the
/// other, rather than by [`nested`]: most envelopes' `data` and `metadata` objects are
/// flat, and a call per frame costs more than their members' own checks. Containers
/// inside it go to [`nested`]. Its keys take `memory`'s places from `*place` on, the
/// object of any top-level key alike (the places run on from one such object to the
/// next), and so do their values' shapes.
#[inline(always)]
fn member_value<const META: bool, R: Recall>(
    s: &[u8],
    mut i: usize,
    info: &mut FrameInfo,
    memory: &mut R,
    place: &mut usize,
) -> Option<usize> {
    if at(s, i)? != b'{' {
        return value(s, i, 1);
    }
    i += 1;
    if at(s, i)? == b'}' {
        return Some(i + 1);
    }
    loop {
        let here = *place;
        *place += 1;
        // a remembered key first: a `TableName` one is the table in `metadata` alone
        let (v, table) = match memory.recall(s, i, here) {
            Some((v, table)) => (v, META && table),
            None => match if META { keys::table_member(s, i) } else { None } {
                Some(v) => {
                    memory.learn(s, i, v, here);
                    (v, true)
                }
                None => {
                    let (v, raw, esc) = key(s, i)?;
                    if META && esc {
                        return None; // it may spell `TableName`: left to the strict walk
                    }
                    if !esc {
                        memory.learn(s, i, v, here);
                    }
                    (v, META && keys::is_table(raw))
                }
            },
        };
        if let Some(end) = memory.value_end(s, v, here) {
            // a plain string or digits, as the last frame had here
            if table && s[v] == b'"' {
                info.table = Some((v + 1, end - 1));
                info.table_escaped = false;
            }
            i = end;
        } else {
            if table && at(s, v)? == b'"' {
                let (end, escaped) = string(s, v + 1)?;
                info.table = Some((v + 1, end - 1));
                info.table_escaped = escaped;
                i = end;
            } else {
                i = value(s, v, 2)?;
            }
            memory.learn_value(s, v, i, here);
        }
        match at(s, i)? {
            b',' => i += 1,
            b'}' => return Some(i + 1),
            _ => return None,
        }
    }
}

/// The top-level key at `s[i]` and where its value starts; None when the walk leaves
/// the frame to the strict one (an escaped key may spell a key of interest). The keys
/// of interest are matched as compact members first (see [`keys`]).
#[inline(always)]
fn top_key(s: &[u8], i: usize) -> Option<(Top, usize)> {
    if let Some(known) = keys::top_member(s, i) {
        return Some(known);
    }
    let (v, raw, esc) = key(s, i)?;
    if esc {
        return None;
    }
    Some((Top::of(raw), v))
}

/// Accepts `s` (UTF-8 already checked) when it is a valid frame of the common shape.
#[inline]
pub(super) fn accept(s: &[u8]) -> Option<FrameInfo> {
    accept_prefix(s, &mut ()).and_then(|(len, info)| (len == s.len()).then_some(info))
}

/// Accepts the object at the start of `s`, if it has the common shape: its length and
/// findings. The bytes after it are not looked at; the object holds no byte below
/// 0x20 (no `\n`): none is allowed outside strings here, and none unescaped inside.
/// `memory` holds keys of the frames before (see [`KeyMemory`]): it changes how fast the
/// walk goes, never its result.
#[inline(always)]
pub(super) fn accept_prefix<R: Recall>(s: &[u8], memory: &mut R) -> Option<(usize, FrameInfo)> {
    let mut info = FrameInfo::default();
    let mut place = 0;
    if at(s, 0)? != b'{' {
        return None;
    }
    let mut i = 1;
    if at(s, i)? == b'}' {
        return Some((2, info));
    }
    loop {
        let (kind, v) = top_key(s, i)?;
        match kind {
            Top::Data => info.has_data = true,
            Top::Checkpoint => info.has_checkpoint = true,
            Top::Metadata | Top::Other => {}
        }
        i = if matches!(kind, Top::Metadata) {
            member_value::<true, R>(s, v, &mut info, memory, &mut place)?
        } else {
            member_value::<false, R>(s, v, &mut info, memory, &mut place)?
        };
        match at(s, i)? {
            b',' => i += 1,
            b'}' => return Some((i + 1, info)),
            _ => return None,
        }
    }
}

/// What the pump keeps of the fast walk from one frame of an input to the next: whether
/// to try it, and the keys it scanned with their values' shapes (`keys::KeyMemory`). A
/// provider writes all its frames the same way, so once the walk has refused
/// [`FastWalkGate::REFUSALS`] frames in a row (a provider writing spaced JSON, say), it
/// is tried on one frame in [`FastWalkGate::PAUSE`] only, until it takes one again; the
/// others go to the strict walk without the attempt (~90 instructions a frame).
#[derive(Debug, Default)]
pub struct FastWalkGate {
    refusals: u32,
    pause: u32,
    memory: KeyMemory,
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

    /// The fast walk over the start of `s` ([`super::fast_prefix`]), with the keys of
    /// the frames it walked before: the same result, sooner.
    #[inline(always)]
    pub fn prefix(&mut self, s: &[u8]) -> Option<(usize, FrameInfo)> {
        accept_prefix(s, &mut self.memory)
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
