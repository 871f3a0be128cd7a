//! Validation of one frame: UTF-8, exactly one RFC 8259 JSON value which must
//! be an object, no trailing bytes, nesting bounded by [`MAX_DEPTH`].
//!
//! One rule is dstream's, not JSON's: the top-level `checkpoint` key is written as it
//! is (`"\u0063heckpoint"` is refused), since outputs find checkpoints by that text.
//!
//! While validating it records what the pump needs to classify and count the frame:
//! whether the top-level object has the keys `checkpoint` / `data`, and the span of
//! the `metadata.TableName` string (raw, still JSON-escaped).
//!
//! Two walks over the bytes, after one UTF-8 check (simdutf8):
//! - [`fast`] accepts the common shape of a frame (compact JSON, plain keys, nesting
//!   up to 64) with few instructions per token and never explains a refusal; `keys`
//!   holds the keys it knows before it scans them (the memory of the last frame's keys,
//!   and of the shapes of their values, that the pump's [`FastWalkGate`] keeps among
//!   them), which make it faster and change none of its results;
//! - [`strict`] takes everything the fast walk refused and alone decides, with the
//!   position and reason of an error.
//!
//! The fast walk may only accept what the strict one accepts, with the same
//! [`FrameInfo`]: `tests/validate.rs` checks that on generated and mutated frames, and
//! on sequences of frames walked through one [`FastWalkGate`] (with its memory of keys).

mod fast;
mod keys;
mod member;
mod scan;
mod strict;

pub use fast::FastWalkGate;
pub use member::member;

use crate::frame::MAX_DEPTH;
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
    /// A top-level key dstream reads, written with escapes.
    EscapedKey(&'static str),
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
            InvalidKind::EscapedKey(key) => write!(
                f,
                "frame writes its \"{key}\" key with escapes at byte {p} of the frame: outputs \
                 find it by its plain text, so write it as \"{key}\""
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

/// Validates one frame (without its newline).
pub fn validate(s: &[u8]) -> Result<FrameInfo, Invalid> {
    validate_with(s, false)
}

/// [`validate`], skipping the UTF-8 check when the caller already checked a region
/// holding the frame (the pump checks a whole batch at once: cutting valid UTF-8 at
/// `\n` or `\r` leaves valid UTF-8).
#[inline]
pub fn validate_with(s: &[u8], utf8_checked: bool) -> Result<FrameInfo, Invalid> {
    check_utf8(s, utf8_checked)?;
    match fast::accept(s) {
        Some(info) => Ok(info),
        None => strict::validate(s),
    }
}

/// [`validate_with`] for a frame the fast walk has refused already (the pump's
/// [`FastWalkGate::prefix`], or [`fast_prefix`], returned None at its start): the strict
/// walk alone, without a second attempt.
#[inline]
pub fn validate_refused(s: &[u8], utf8_checked: bool) -> Result<FrameInfo, Invalid> {
    check_utf8(s, utf8_checked)?;
    strict::validate(s)
}

#[inline(always)]
fn check_utf8(s: &[u8], checked: bool) -> Result<(), Invalid> {
    if !checked && simdutf8::basic::from_utf8(s).is_err() {
        let pos = match simdutf8::compat::from_utf8(s) {
            Err(e) => e.valid_up_to(),
            Ok(_) => 0,
        };
        return err(InvalidKind::NotUtf8, pos);
    }
    Ok(())
}

/// The fast walk alone over valid UTF-8: `Some` only for a valid frame, `None` for an
/// invalid one or one it leaves to [`strict`]. Public for the tests and benchmarks
/// that compare the two walks; [`validate`] is the API.
pub fn fast(s: &[u8]) -> Option<FrameInfo> {
    fast::accept(s)
}

/// The fast walk over the start of `s` (valid UTF-8): the length of the compact JSON
/// object it accepts there, and its findings; the bytes after it are not looked at.
/// Such an object holds no `\n`, so when the byte after it ends the line, it is the
/// whole frame: the pump frames this way without searching for the newline, with
/// [`FastWalkGate::prefix`] (this walk, sooner for the keys it remembers from the frames
/// before; the same result).
#[inline]
pub fn fast_prefix(s: &[u8]) -> Option<(usize, FrameInfo)> {
    fast::accept_prefix(s, &mut ())
}

/// The strict walk alone over valid UTF-8 (see [`fast`]).
pub fn strict(s: &[u8]) -> Result<FrameInfo, Invalid> {
    strict::validate(s)
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
        let hi = scan::hex4(raw, i).unwrap_or(0xFFFD) as u32;
        i += 4;
        let cp = if (0xD800..0xDC00).contains(&hi) && raw.get(i) == Some(&b'\\') {
            let lo = scan::hex4(raw, i + 2).unwrap_or(0) as u32;
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
