//! Byte scanners shared by the fast and strict walks: string bodies (16 or 32 bytes at a
//! time for `"`, `\` and control characters), escapes, numbers, literals, whitespace.

use super::{err, Invalid, InvalidKind};

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
pub(super) fn find_special(s: &[u8], mut i: usize) -> usize {
    use crate::sys::{find_special_avx2, special_mask16};
    if i + 16 <= s.len() {
        let m = special_mask16(s[i..i + 16].try_into().unwrap());
        if m != 0 {
            return i + m.trailing_zeros() as usize;
        }
        i += 16;
        // most strings end within 32 bytes (keys, numbers as text, timestamps); a
        // longer one goes 32 bytes per step where the CPU can (the loop below then
        // stops at once on the byte found, or finishes the last < 32 bytes)
        if i + 16 <= s.len() {
            let m = special_mask16(s[i..i + 16].try_into().unwrap());
            if m != 0 {
                return i + m.trailing_zeros() as usize;
            }
            i += 16;
            if let Some(j) = find_special_avx2(s, i) {
                i = j;
            }
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
pub(super) fn find_special(s: &[u8], i: usize) -> usize {
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

/// Index after the string whose body starts at `s[i]`, when that body is exactly `len`
/// bytes with no `"`, `\` or control byte among them (what [`find_special`] would
/// scan to): None otherwise, or when `len` is 32 or more, or fewer than 16 or 32 bytes
/// are left to load. Checks a length predicted beforehand, so its end is known before
/// the bytes are searched.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn string_of_len(s: &[u8], i: usize, len: usize) -> Option<usize> {
    use crate::sys::special_mask16;
    let chunk = |at: usize| {
        s.get(at..at + 16)
            .map(|c| special_mask16(c.try_into().unwrap()))
    };
    let m = if len < 16 {
        chunk(i)?
    } else if len < 32 {
        chunk(i)? | chunk(i + 16)? << 16
    } else {
        return None;
    };
    // the first special byte is the one at `len`, and it is the quote
    let first = (2u32 << len).wrapping_sub(1);
    (m & first == 1 << len && s[i + len] == b'"').then_some(i + len + 1)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(super) fn string_of_len(_s: &[u8], _i: usize, _len: usize) -> Option<usize> {
    None
}

/// A number of `len` (1 to 7) digits followed by a given byte, as the last frame had in
/// a place: checked on the next frame's value with one 8-byte load and a few word
/// operations whose masks are made here, once, so its end is known before the digits
/// are read one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Digits {
    /// `0` in the digits' bytes, the following byte after them.
    pattern: u64,
    /// The high nibble of the digits' bytes and the whole following byte.
    fixed: u64,
    /// 6 in the digits' bytes (a byte of `w ^ pattern` over 9 reaches 16).
    six: u64,
    /// The high nibbles of the digits' bytes.
    high: u64,
    /// 1 for a single digit (which may be `0`), 0 otherwise.
    single: u64,
    len: u8,
}

impl Digits {
    /// The shape of the number `s[i..end]`, followed by `s[end]`: Some only when it is
    /// 1 to 7 digits that [`parse_number`] reads alone (no leading zero; no fraction or
    /// exponent, whose bytes would follow) and 8 bytes from `s[i]` are there.
    #[inline]
    pub(super) fn of(s: &[u8], i: usize, end: usize) -> Option<Digits> {
        let len = end - i;
        if !(1..=7).contains(&len) || parse_number(s, i).ok()? != end || s[i] == b'-' {
            return None;
        }
        let next = *s.get(end)?;
        if next.is_ascii_digit() || next == b'.' || next | 0x20 == b'e' || s.len() < i + 8 {
            return None;
        }
        let m = u64::MAX >> (64 - 8 * len);
        let shape = Digits {
            pattern: (LO * b'0' as u64) & m | (next as u64) << (8 * len),
            fixed: (LO * 0xf0) & m | 0xff << (8 * len),
            six: (LO * 6) & m,
            high: (LO * 0xf0) & m,
            single: (len == 1) as u64,
            len: len as u8,
        };
        // what it was made from fits it
        (shape.end(s, i) == Some(end)).then_some(shape)
    }

    /// Index after the number at `s[i]` when it has this shape: exactly as many digits,
    /// no leading zero, and the same byte after them (never a digit, `.`, `e` or `E`,
    /// so [`parse_number`] would stop there too). None otherwise, or when fewer than 8
    /// bytes are left to load.
    #[inline(always)]
    pub(super) fn end(&self, s: &[u8], i: usize) -> Option<usize> {
        let w = u64::from_le_bytes(s.get(i..i + 8)?.try_into().unwrap());
        // the digits' values, and 0 for the byte after them
        let x = w ^ self.pattern;
        // each digit's byte 0x3_ with a value that stays under 16 when 6 is added (a carry
        // from a byte that fails spreads only to higher ones), then the byte after them
        let bad = x & self.fixed | x.wrapping_add(self.six) & self.high;
        let leading_zero = (x | self.single) & 0xff == 0;
        (bad == 0 && !leading_zero).then_some(i + self.len as usize)
    }
}

#[inline(always)]
pub(super) fn skip_ws(s: &[u8], mut i: usize) -> usize {
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
pub(super) fn hex4(s: &[u8], i: usize) -> Result<u16, Invalid> {
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
pub(super) fn parse_string(s: &[u8], mut i: usize) -> Result<(usize, bool), Invalid> {
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
pub(super) fn parse_escape(s: &[u8], i: usize) -> Result<usize, Invalid> {
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
pub(super) fn parse_number(s: &[u8], mut i: usize) -> Result<usize, Invalid> {
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
        i = some_digits(s, i + 1, "a digit after '.'")?;
    }
    if let Some(b'e' | b'E') = s.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = s.get(i) {
            i += 1;
        }
        i = some_digits(s, i, "a digit in the exponent")?;
    }
    Ok(i)
}

/// One or more digits from `i` (a fraction or an exponent); `what` names the missing one.
#[inline(always)]
fn some_digits(s: &[u8], i: usize, what: &'static str) -> Result<usize, Invalid> {
    let j = digits(s, i);
    if j > i {
        Ok(j)
    } else if i >= s.len() {
        err(InvalidKind::UnexpectedEnd, i)
    } else {
        err(InvalidKind::Expected(what), i)
    }
}

#[inline(always)]
pub(super) fn literal(s: &[u8], i: usize, lit: &'static [u8]) -> Result<usize, Invalid> {
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
