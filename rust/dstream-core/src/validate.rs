//! Strict validator for one frame: UTF-8, exactly one RFC 8259 JSON value which must
//! be an object, no trailing bytes, nesting bounded by [`MAX_DEPTH`].
//!
//! While validating it records what the pump needs to classify and count the frame:
//! whether the top-level object has the keys `checkpoint` / `data`, and the span of
//! the `metadata.TableName` string (raw, still JSON-escaped).
//!
//! Speed: UTF-8 is checked once up front with simdutf8; string bodies are then
//! scanned 8 bytes at a time (SWAR) for `"`, `\` and control characters.

use crate::frame::{KEY_CHECKPOINT, KEY_DATA, KEY_METADATA, MAX_DEPTH, META_TABLE};
use std::fmt;

/// What the validator learnt about a valid frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameInfo {
    pub has_checkpoint: bool,
    pub has_data: bool,
    /// Byte range of `metadata.TableName`'s string contents (without quotes).
    pub table: Option<(usize, usize)>,
    /// True when that string contains escapes (decode with [`unescape`]).
    pub table_escaped: bool,
}

/// Why a frame is invalid, and where (byte index within the frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid {
    pub kind: InvalidKind,
    pub pos: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidKind {
    NotUtf8,
    /// Valid JSON, but not an object: the name of what it is.
    NotObject(&'static str),
    Expected(&'static str),
    UnexpectedEnd,
    ControlChar(u8),
    BadEscape,
    BadUnicodeEscape,
    LoneSurrogate,
    TrailingData,
    TooDeep,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.pos;
        match self.kind {
            InvalidKind::NotUtf8 => write!(f, "frame is not valid UTF-8 (at byte {p} of the frame)"),
            InvalidKind::NotObject(what) => write!(f, "frame is a JSON {what}, not an object"),
            InvalidKind::Expected(what) => {
                write!(f, "frame is not valid JSON: expected {what} at byte {p} of the frame")
            }
            InvalidKind::UnexpectedEnd => {
                write!(f, "frame is not valid JSON: unexpected end of frame at byte {p}")
            }
            InvalidKind::ControlChar(c) => write!(
                f,
                "frame is not valid JSON: unescaped control character 0x{c:02x} in string at byte {p} of the frame"
            ),
            InvalidKind::BadEscape => {
                write!(f, "frame is not valid JSON: invalid escape at byte {p} of the frame")
            }
            InvalidKind::BadUnicodeEscape => write!(
                f,
                "frame is not valid JSON: invalid \\u escape at byte {p} of the frame"
            ),
            InvalidKind::LoneSurrogate => write!(
                f,
                "frame is not valid JSON: unpaired UTF-16 surrogate escape at byte {p} of the frame"
            ),
            InvalidKind::TrailingData => write!(
                f,
                "frame is not valid JSON: trailing data after the object at byte {p} of the frame"
            ),
            InvalidKind::TooDeep => write!(
                f,
                "frame is not valid JSON: nesting deeper than {MAX_DEPTH} levels at byte {p} of the frame"
            ),
        }
    }
}

#[inline(always)]
fn err<T>(kind: InvalidKind, pos: usize) -> Result<T, Invalid> {
    Err(Invalid { kind, pos })
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in the byte lanes of `w` that are `"`, `\` or < 0x20. The lowest set
/// lane is exact (higher lanes may be false positives after a borrow).
#[inline(always)]
fn special_mask(w: u64) -> u64 {
    let q = w ^ (LO * b'"' as u64);
    let b = w ^ (LO * b'\\' as u64);
    let zq = q.wrapping_sub(LO) & !q;
    let zb = b.wrapping_sub(LO) & !b;
    let lt = w.wrapping_sub(LO * 0x20) & !w;
    (zq | zb | lt) & HI
}

/// Index of the first `"`, `\` or control byte at or after `i`, or `s.len()`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn find_special(s: &[u8], mut i: usize) -> usize {
    use crate::sys::{find_special_avx2, special_mask16};
    if i + 16 <= s.len() {
        let m = special_mask16(s[i..i + 16].try_into().unwrap());
        if m != 0 {
            return i + m.trailing_zeros() as usize;
        }
        i += 16;
        // a long string: 32 bytes per step where the CPU can (the loop below then
        // stops at once on the byte found, or finishes the last < 32 bytes)
        if let Some(j) = find_special_avx2(s, i) {
            i = j;
        }
    }
    while i + 16 <= s.len() {
        let m = special_mask16(s[i..i + 16].try_into().unwrap());
        if m != 0 {
            return i + m.trailing_zeros() as usize;
        }
        i += 16;
    }
    if i < s.len() {
        if s.len() >= 16 {
            // overlapping load of the last 16 bytes, ignoring those before `i`
            let base = s.len() - 16;
            let m = special_mask16(s[base..].try_into().unwrap()) >> (i - base);
            return if m != 0 {
                i + m.trailing_zeros() as usize
            } else {
                s.len()
            };
        }
        return find_special_swar(s, i);
    }
    i
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn find_special(s: &[u8], i: usize) -> usize {
    find_special_swar(s, i)
}

/// Portable [`find_special`]: 8 bytes at a time.
#[inline(always)]
fn find_special_swar(s: &[u8], mut i: usize) -> usize {
    while i + 16 <= s.len() {
        let a = u64::from_le_bytes(s[i..i + 8].try_into().unwrap());
        let b = u64::from_le_bytes(s[i + 8..i + 16].try_into().unwrap());
        let ma = special_mask(a);
        let mb = special_mask(b);
        if ma | mb != 0 {
            if ma != 0 {
                return i + (ma.trailing_zeros() / 8) as usize;
            }
            return i + 8 + (mb.trailing_zeros() / 8) as usize;
        }
        i += 16;
    }
    if i + 8 <= s.len() {
        let a = u64::from_le_bytes(s[i..i + 8].try_into().unwrap());
        let ma = special_mask(a);
        if ma != 0 {
            return i + (ma.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < s.len() {
        let c = s[i];
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

#[inline(always)]
fn skip_ws(s: &[u8], mut i: usize) -> usize {
    // compact JSON: the next byte is almost never whitespace
    match s.get(i) {
        Some(&c) if c > b' ' => return i,
        None => return i,
        _ => {}
    }
    while i < s.len() {
        match s[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            _ => break,
        }
    }
    i
}

#[inline(always)]
fn hex4(s: &[u8], i: usize) -> Result<u16, Invalid> {
    if i + 4 > s.len() {
        return err(InvalidKind::BadUnicodeEscape, i);
    }
    let mut v: u16 = 0;
    for k in 0..4 {
        let c = s[i + k];
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return err(InvalidKind::BadUnicodeEscape, i + k),
        };
        v = (v << 4) | d as u16;
    }
    Ok(v)
}

/// Parses a string body starting just after the opening quote. Returns the index just
/// after the closing quote and whether the body had escapes.
#[inline(always)]
fn parse_string(s: &[u8], mut i: usize) -> Result<(usize, bool), Invalid> {
    let mut escaped = false;
    loop {
        i = find_special(s, i);
        if i >= s.len() {
            return err(InvalidKind::UnexpectedEnd, s.len());
        }
        match s[i] {
            b'"' => return Ok((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                i = parse_escape(s, i)?;
            }
            c => return err(InvalidKind::ControlChar(c), i),
        }
    }
}

/// `s[i]` is a backslash; returns the index after the escape sequence.
#[cold]
fn parse_escape(s: &[u8], i: usize) -> Result<usize, Invalid> {
    let Some(&c) = s.get(i + 1) else {
        return err(InvalidKind::UnexpectedEnd, s.len());
    };
    match c {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(i + 2),
        b'u' => {
            let v = hex4(s, i + 2)?;
            match v {
                0xD800..=0xDBFF => {
                    if s.get(i + 6) == Some(&b'\\') && s.get(i + 7) == Some(&b'u') {
                        let lo = hex4(s, i + 8)?;
                        if (0xDC00..=0xDFFF).contains(&lo) {
                            return Ok(i + 12);
                        }
                    }
                    err(InvalidKind::LoneSurrogate, i)
                }
                0xDC00..=0xDFFF => err(InvalidKind::LoneSurrogate, i),
                _ => Ok(i + 6),
            }
        }
        _ => err(InvalidKind::BadEscape, i),
    }
}

#[inline(always)]
fn digits(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// `s[i]` is `-` or a digit. Returns the index after the number.
#[inline(always)]
fn parse_number(s: &[u8], mut i: usize) -> Result<usize, Invalid> {
    if s[i] == b'-' {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(s, i + 1),
        Some(_) => return err(InvalidKind::Expected("a digit"), i),
        None => return err(InvalidKind::UnexpectedEnd, i),
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        let j = digits(s, i);
        if j == i {
            return if i >= s.len() {
                err(InvalidKind::UnexpectedEnd, i)
            } else {
                err(InvalidKind::Expected("a digit after '.'"), i)
            };
        }
        i = j;
    }
    if let Some(b'e' | b'E') = s.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = s.get(i) {
            i += 1;
        }
        let j = digits(s, i);
        if j == i {
            return if i >= s.len() {
                err(InvalidKind::UnexpectedEnd, i)
            } else {
                err(InvalidKind::Expected("a digit in the exponent"), i)
            };
        }
        i = j;
    }
    Ok(i)
}

#[inline(always)]
fn literal(s: &[u8], i: usize, lit: &'static [u8]) -> Result<usize, Invalid> {
    let end = i + lit.len();
    if end <= s.len() && &s[i..end] == lit {
        return Ok(end);
    }
    for (k, &c) in lit.iter().enumerate() {
        match s.get(i + k) {
            None => return err(InvalidKind::UnexpectedEnd, i + k),
            Some(&d) if d != c => return err(InvalidKind::Expected("a JSON value"), i),
            _ => {}
        }
    }
    unreachable!("literal matched after mismatch")
}

/// Key of interest for the value that follows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    None,
    Metadata,
    Table,
}

/// Compares a raw key body against `want`, decoding escapes when there are any.
#[inline(always)]
fn key_is(raw: &[u8], escaped: bool, want: &[u8]) -> bool {
    if !escaped {
        raw.len() == want.len() && raw == want
    } else {
        unescape(raw).as_bytes() == want
    }
}

/// Bit stack of open containers: 1 = object, 0 = array.
struct Stack {
    bits: [u64; MAX_DEPTH / 64],
    depth: usize,
}

impl Stack {
    #[inline(always)]
    fn push(&mut self, obj: bool, pos: usize) -> Result<(), Invalid> {
        if self.depth >= MAX_DEPTH {
            return err(InvalidKind::TooDeep, pos);
        }
        let (w, b) = (self.depth / 64, self.depth % 64);
        if obj {
            self.bits[w] |= 1 << b;
        } else {
            self.bits[w] &= !(1 << b);
        }
        self.depth += 1;
        Ok(())
    }
    #[inline(always)]
    fn top_is_obj(&self) -> bool {
        let d = self.depth - 1;
        self.bits[d / 64] & (1 << (d % 64)) != 0
    }
}

/// Validates one frame (without its newline).
pub fn validate(s: &[u8]) -> Result<FrameInfo, Invalid> {
    validate_with(s, false)
}

/// [`validate`], skipping the UTF-8 check when the caller already checked a region
/// holding the frame (the pump checks a whole batch at once: cutting valid UTF-8 at
/// `\n` or `\r` leaves valid UTF-8).
#[inline]
pub fn validate_with(s: &[u8], utf8_checked: bool) -> Result<FrameInfo, Invalid> {
    if !utf8_checked && simdutf8::basic::from_utf8(s).is_err() {
        let pos = match simdutf8::compat::from_utf8(s) {
            Err(e) => e.valid_up_to(),
            Ok(_) => 0,
        };
        return err(InvalidKind::NotUtf8, pos);
    }
    let mut info = FrameInfo::default();
    let mut st = Stack {
        bits: [0; MAX_DEPTH / 64],
        depth: 0,
    };
    let mut in_meta = false; // the object at depth 2 is the top-level "metadata" value
    let mut obj = false; // the innermost open container is an object
    let mut ctx = Ctx::None;
    let mut i = skip_ws(s, 0);
    let first = i;
    'value: loop {
        // ---- a value starts at s[i] (whitespace already skipped)
        let Some(&c) = s.get(i) else {
            return err(InvalidKind::UnexpectedEnd, i);
        };
        let vctx = ctx;
        ctx = Ctx::None;
        match c {
            b'{' => {
                st.push(true, i)?;
                obj = true;
                if vctx == Ctx::Metadata && st.depth == 2 {
                    in_meta = true;
                }
                i = skip_ws(s, i + 1);
                match s.get(i) {
                    Some(b'}') => {
                        i += 1;
                        st.depth -= 1;
                        if st.depth == 1 {
                            in_meta = false;
                        }
                        obj = st.depth > 0 && st.top_is_obj();
                    }
                    Some(b'"') => {
                        i = key(s, i, &st, in_meta, &mut info, &mut ctx)?;
                        continue 'value;
                    }
                    Some(_) => return err(InvalidKind::Expected("'\"' or '}'"), i),
                    None => return err(InvalidKind::UnexpectedEnd, i),
                }
            }
            b'[' => {
                st.push(false, i)?;
                obj = false;
                i = skip_ws(s, i + 1);
                if s.get(i) == Some(&b']') {
                    i += 1;
                    st.depth -= 1;
                    obj = st.depth > 0 && st.top_is_obj();
                } else {
                    continue 'value;
                }
            }
            b'"' => {
                let start = i + 1;
                let (end, esc) = parse_string(s, start)?;
                if vctx == Ctx::Table {
                    info.table = Some((start, end - 1));
                    info.table_escaped = esc;
                }
                i = end;
            }
            b'-' | b'0'..=b'9' => i = parse_number(s, i)?,
            b't' => i = literal(s, i, b"true")?,
            b'f' => i = literal(s, i, b"false")?,
            b'n' => i = literal(s, i, b"null")?,
            _ => return err(InvalidKind::Expected("a JSON value"), i),
        }
        // ---- after a value
        loop {
            if st.depth == 0 {
                i = skip_ws(s, i);
                if i != s.len() {
                    return err(InvalidKind::TrailingData, i);
                }
                return match s[first] {
                    b'{' => Ok(info),
                    b'[' => err(InvalidKind::NotObject("array"), first),
                    b'"' => err(InvalidKind::NotObject("string"), first),
                    b't' | b'f' => err(InvalidKind::NotObject("boolean"), first),
                    b'n' => err(InvalidKind::NotObject("null"), first),
                    _ => err(InvalidKind::NotObject("number"), first),
                };
            }
            i = skip_ws(s, i);
            match s.get(i) {
                Some(b',') => {
                    i = skip_ws(s, i + 1);
                    if obj {
                        match s.get(i) {
                            Some(b'"') => i = key(s, i, &st, in_meta, &mut info, &mut ctx)?,
                            Some(_) => return err(InvalidKind::Expected("'\"'"), i),
                            None => return err(InvalidKind::UnexpectedEnd, i),
                        }
                    }
                    continue 'value;
                }
                Some(b'}') if obj => {
                    i += 1;
                    st.depth -= 1;
                    if st.depth == 1 {
                        in_meta = false;
                    }
                    obj = st.depth > 0 && st.top_is_obj();
                }
                Some(b']') if !obj => {
                    i += 1;
                    st.depth -= 1;
                    obj = st.depth > 0 && st.top_is_obj();
                }
                Some(_) => {
                    let what = if obj { "',' or '}'" } else { "',' or ']'" };
                    return err(InvalidKind::Expected(what), i);
                }
                None => return err(InvalidKind::UnexpectedEnd, i),
            }
        }
    }
}

/// `s[i]` is the opening quote of a key. Parses key, whitespace and colon; returns the
/// index of the value (whitespace skipped).
#[inline(always)]
fn key(
    s: &[u8],
    i: usize,
    st: &Stack,
    in_meta: bool,
    info: &mut FrameInfo,
    ctx: &mut Ctx,
) -> Result<usize, Invalid> {
    let (end, esc) = parse_string(s, i + 1)?;
    let raw = &s[i + 1..end - 1];
    if st.depth == 1 {
        if key_is(raw, esc, KEY_DATA) {
            info.has_data = true;
        } else if key_is(raw, esc, KEY_CHECKPOINT) {
            info.has_checkpoint = true;
        } else if key_is(raw, esc, KEY_METADATA) {
            *ctx = Ctx::Metadata;
        }
    } else if st.depth == 2 && in_meta && key_is(raw, esc, META_TABLE) {
        *ctx = Ctx::Table;
    }
    let j = skip_ws(s, end);
    match s.get(j) {
        Some(b':') => Ok(skip_ws(s, j + 1)),
        Some(_) => err(InvalidKind::Expected("':'"), j),
        None => err(InvalidKind::UnexpectedEnd, j),
    }
}

/// Decodes the body of a JSON string that [`validate`] accepted.
pub fn unescape(raw: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' || i + 1 >= raw.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = raw[i + 1];
        i += 2;
        let simple = match e {
            b'b' => Some(8u8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            other => Some(other),
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let hi = hex4(raw, i).unwrap_or(0xFFFD) as u32;
        i += 4;
        let cp = if (0xD800..0xDC00).contains(&hi) && raw.get(i) == Some(&b'\\') {
            let lo = hex4(raw, i + 2).unwrap_or(0) as u32;
            i += 6;
            0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
        } else {
            hi
        };
        let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
        let mut b = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
