//! The strict walk: any RFC 8259 text, every error with its position and reason.

use super::scan::{literal, parse_number, parse_string, skip_ws};
use super::{err, unescape, FrameInfo, Invalid, InvalidKind};
use crate::frame::{KEY_CHECKPOINT, KEY_DATA, KEY_METADATA, MAX_DEPTH, META_TABLE};

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

/// Validates one frame (without its newline) that is valid UTF-8.
pub(super) fn validate(s: &[u8]) -> Result<FrameInfo, Invalid> {
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
            if esc {
                return err(InvalidKind::EscapedKey("checkpoint"), i);
            }
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
