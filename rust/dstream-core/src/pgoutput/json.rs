//! JSON text as orjson (the Python provider's encoder) writes it, for pgoutput values.
//!
//! - the primitives (strings, numbers) are [`crate::json`]'s, re-exported here so the
//!   pgoutput modules keep one `json::` namespace;
//! - [`compact`]: json/jsonb text as values.py's `_to_json` embeds it, the text itself
//!   without the whitespace between tokens. Whatever it is not sure is JSON a frame can
//!   carry (an unpaired surrogate escape, nesting beyond [`MAX_DEPTH`], anything
//!   malformed) is [`Unsupported`]: the caller then lets the Python path handle the row.

pub use crate::json::{write_f64, write_i64, write_str, write_str_body, write_u64};

/// A value this encoder does not reproduce exactly; the row goes to the Python path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

pub type Res = Result<(), Unsupported>;

/// values.JSON_MAX_DEPTH: the most containers a json value may nest (an envelope puts
/// it up to 9 levels down; frames may nest 1024).
pub const MAX_DEPTH: usize = 1000;

/// values._to_json: `text` (one JSON value) copied token by token, strings and numbers
/// byte for byte, without the whitespace between tokens.
pub fn compact(out: &mut Vec<u8>, text: &[u8]) -> Res {
    let mut p = Parser {
        s: text,
        pos: 0,
        out,
    };
    p.ws();
    p.value(0)?;
    p.ws();
    if p.pos != text.len() {
        return Err(Unsupported("json: trailing text"));
    }
    Ok(())
}

struct Parser<'a, 'o> {
    s: &'a [u8],
    pos: usize,
    out: &'o mut Vec<u8>,
}

impl Parser<'_, '_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Copies what was read since `start`.
    fn copy(&mut self, start: usize) {
        self.out.extend_from_slice(&self.s[start..self.pos]);
    }

    fn literal(&mut self, word: &'static [u8]) -> Res {
        if self.s[self.pos..].starts_with(word) {
            self.pos += word.len();
            self.out.extend_from_slice(word);
            Ok(())
        } else {
            Err(Unsupported("json: bad literal"))
        }
    }

    /// A value inside `open` containers.
    fn value(&mut self, open: usize) -> Res {
        match self.peek() {
            Some(b'{' | b'[') if open >= MAX_DEPTH => Err(Unsupported("json: nesting too deep")),
            Some(b'{') => self.object(open + 1),
            Some(b'[') => self.array(open + 1),
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(Unsupported("json: unexpected character")),
        }
    }

    /// Copies `byte` when it comes next.
    fn take(&mut self, byte: u8) -> bool {
        let next = self.peek() == Some(byte);
        if next {
            self.pos += 1;
            self.out.push(byte);
        }
        next
    }

    /// After a member or an element: `,` (true: another follows) or `close` (false).
    fn more(&mut self, close: u8, expected: &'static str) -> Result<bool, Unsupported> {
        self.ws();
        if self.take(b',') {
            self.ws();
            Ok(true)
        } else if self.take(close) {
            Ok(false)
        } else {
            Err(Unsupported(expected))
        }
    }

    /// Members are copied in their order, a repeated key too (json keeps them).
    fn object(&mut self, open: usize) -> Res {
        self.take(b'{');
        self.ws();
        if self.take(b'}') {
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(Unsupported("json: object key expected"));
            }
            self.string()?;
            self.ws();
            if !self.take(b':') {
                return Err(Unsupported("json: ':' expected"));
            }
            self.ws();
            self.value(open)?;
            if !self.more(b'}', "json: ',' or '}' expected")? {
                return Ok(());
            }
        }
    }

    fn array(&mut self, open: usize) -> Res {
        self.take(b'[');
        self.ws();
        if self.take(b']') {
            return Ok(());
        }
        loop {
            self.value(open)?;
            if !self.more(b']', "json: ',' or ']' expected")? {
                return Ok(());
            }
        }
    }

    /// Copies the string at `pos` (quotes and escapes as written) after checking it.
    fn string(&mut self) -> Res {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                Some(b'"') => break,
                Some(b'\\') => self.escape()?,
                Some(b) if b >= 0x20 => self.pos += 1,
                _ => return Err(Unsupported("json: unterminated string or raw control")),
            }
        }
        self.pos += 1;
        self.copy(start);
        Ok(())
    }

    fn escape(&mut self) -> Res {
        let e = *self
            .s
            .get(self.pos + 1)
            .ok_or(Unsupported("json: escape"))?;
        self.pos += 2;
        match e {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(()),
            b'u' => self.unicode(),
            _ => Err(Unsupported("json: unknown escape")),
        }
    }

    fn hex4(&mut self) -> Result<u32, Unsupported> {
        let digits = self
            .s
            .get(self.pos..self.pos + 4)
            .ok_or(Unsupported("json: \\u"))?;
        let mut v = 0u32;
        for &d in digits {
            let n = (d as char).to_digit(16).ok_or(Unsupported("json: \\u"))?;
            v = v * 16 + n;
        }
        self.pos += 4;
        Ok(v)
    }

    /// After `\u`: a code point, or a surrogate pair (frames may not hold half of one).
    fn unicode(&mut self) -> Res {
        let hi = self.hex4()?;
        if (0xDC00..0xE000).contains(&hi) {
            return Err(Unsupported("json: lone low surrogate"));
        }
        if !(0xD800..0xDC00).contains(&hi) {
            return Ok(());
        }
        if self.s.get(self.pos..self.pos + 2) != Some(b"\\u") {
            return Err(Unsupported("json: lone high surrogate"));
        }
        self.pos += 2;
        let lo = self.hex4()?;
        if !(0xDC00..0xE000).contains(&lo) {
            return Err(Unsupported("json: bad low surrogate"));
        }
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Copies an RFC 8259 number as written: PostgreSQL's json keeps its text and
    /// jsonb's numbers are numeric, so any size and precision is exact.
    fn number(&mut self) -> Res {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = self.digits();
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return Err(Unsupported("json: bad number"));
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(Unsupported("json: bad fraction"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(Unsupported("json: bad exponent"));
            }
        }
        self.copy(start);
        Ok(())
    }
}

/// Standard base64 with padding (Python's base64.b64encode).
pub fn write_base64(out: &mut Vec<u8>, data: &[u8]) {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(A[(n >> 18) as usize & 63]);
        out.push(A[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            A[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            A[n as usize & 63]
        } else {
            b'='
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(text: &str) -> Result<String, Unsupported> {
        let mut out = Vec::new();
        compact(&mut out, text.as_bytes())?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn json_is_compacted_and_kept_exact() {
        assert_eq!(
            re(" {\"a\" : [1, 2.50, null],\n\t\"b\": true, \"a\": \" x  y \"} ").unwrap(),
            r#"{"a":[1,2.50,null],"b":true,"a":" x  y "}"#
        );
        for exact in [
            "-0",
            "1E2",
            "1e400",
            "1e-400",
            "-0.0",
            "123456789012345678901234567890",
            "0.1000000000000000000000000001",
            r#""\u00e9\/\ud83d\ude00\\ud800""#,
            r#"{"k":1,"k":2}"#,
        ] {
            assert_eq!(re(exact).unwrap(), exact);
        }
        let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(re(&deep).unwrap(), deep);
    }

    #[test]
    fn json_doubts_are_unsupported() {
        for text in [
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#""\ud800x""#,
            "01",
            "[1,]",
            "1.",
            "-",
            ".5",
            "1e",
            "nul",
            "\"a\nb\"",
            r#""\x""#,
            "[1] 2",
        ] {
            assert!(re(text).is_err(), "{text}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(re(&deep).is_err());
    }

    #[test]
    fn base64_pads() {
        for (data, want) in [
            (&b""[..], ""),
            (b"\x00\xff\x10", "AP8Q"),
            (b"ab", "YWI="),
            (b"a", "YQ=="),
        ] {
            let mut out = Vec::new();
            write_base64(&mut out, data);
            assert_eq!(out, want.as_bytes());
        }
    }
}
