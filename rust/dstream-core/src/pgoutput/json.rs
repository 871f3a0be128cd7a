//! JSON text as orjson (the Python provider's encoder) writes it, for pgoutput values.
//!
//! - the primitives (strings, numbers) are [`crate::json`]'s, re-exported here so the
//!   pgoutput modules keep one `json::` namespace;
//! - [`reserialize`]: what `orjson.dumps(orjson.loads(text))` gives for json/jsonb text.
//!   Whatever it is not sure to reproduce (duplicate keys, deep nesting, numbers that
//!   underflow) is [`Unsupported`]: the caller then lets the Python path handle the row.

use std::collections::HashSet;

pub use crate::json::{write_f64, write_i64, write_str, write_str_body, write_u64};

/// A value this encoder does not reproduce exactly; the row goes to the Python path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

pub type Res = Result<(), Unsupported>;

/// Nesting beyond this is left to the Python path (orjson has its own limits there).
const MAX_DEPTH: usize = 128;

/// `orjson.dumps(orjson.loads(text))` for the JSON documents it can vouch for.
pub fn reserialize(out: &mut Vec<u8>, text: &[u8]) -> Res {
    let mut p = Parser {
        s: text,
        pos: 0,
        out,
        scratch: Vec::new(),
        keys: Vec::new(),
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
    /// A string with escapes is decoded here first.
    scratch: Vec<u8>,
    /// Where the keys of the open objects were written in `out` (escaped: equal keys
    /// have equal escaped forms).
    keys: Vec<(usize, usize)>,
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

    fn literal(&mut self, word: &'static [u8]) -> Res {
        if self.s[self.pos..].starts_with(word) {
            self.pos += word.len();
            self.out.extend_from_slice(word);
            Ok(())
        } else {
            Err(Unsupported("json: bad literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Res {
        if depth > MAX_DEPTH {
            return Err(Unsupported("json: nesting too deep"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string_out(),
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

    fn object(&mut self, depth: usize) -> Res {
        self.take(b'{');
        self.ws();
        if self.take(b'}') {
            return Ok(());
        }
        // Python dicts keep the first position and the last value of a repeated key.
        let base = self.keys.len();
        loop {
            if self.peek() != Some(b'"') {
                return Err(Unsupported("json: object key expected"));
            }
            let start = self.out.len();
            self.string_out()?;
            self.keys.push((start, self.out.len()));
            self.out.push(b':');
            self.ws();
            if self.peek() != Some(b':') {
                return Err(Unsupported("json: ':' expected"));
            }
            self.pos += 1;
            self.ws();
            self.value(depth + 1)?;
            if !self.more(b'}', "json: ',' or '}' expected")? {
                let repeated = self.repeated_key(base);
                self.keys.truncate(base);
                return if repeated {
                    Err(Unsupported("json: repeated key"))
                } else {
                    Ok(())
                };
            }
        }
    }

    fn array(&mut self, depth: usize) -> Res {
        self.take(b'[');
        self.ws();
        if self.take(b']') {
            return Ok(());
        }
        loop {
            self.value(depth + 1)?;
            if !self.more(b']', "json: ',' or ']' expected")? {
                return Ok(());
            }
        }
    }

    fn repeated_key(&self, base: usize) -> bool {
        let keys = &self.keys[base..];
        let key = |&(a, b): &(usize, usize)| &self.out[a..b];
        if keys.len() <= 16 {
            return keys
                .iter()
                .enumerate()
                .any(|(i, k)| keys[..i].iter().any(|j| key(j) == key(k)));
        }
        let mut seen = HashSet::with_capacity(keys.len());
        !keys.iter().all(|k| seen.insert(key(k)))
    }

    /// Writes the string at `pos` as orjson would: copied when it has no escape,
    /// decoded and re-escaped otherwise.
    fn string_out(&mut self) -> Res {
        let start = self.pos + 1;
        let mut end = start;
        while let Some(&b) = self.s.get(end) {
            if b == b'"' || b == b'\\' || b < 0x20 {
                break;
            }
            end += 1;
        }
        if self.s.get(end) == Some(&b'"') {
            self.out.push(b'"');
            self.out.extend_from_slice(&self.s[start..end]);
            self.out.push(b'"');
            self.pos = end + 1;
            return Ok(());
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let done = self.string(&mut scratch);
        if done.is_ok() {
            self.out.push(b'"');
            write_str_body(self.out, &scratch);
            self.out.push(b'"');
        }
        self.scratch = scratch;
        done
    }

    /// Decodes the string at `pos` (its quotes included) into `into` as UTF-8.
    fn string(&mut self, into: &mut Vec<u8>) -> Res {
        self.pos += 1;
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            into.extend_from_slice(&self.s[start..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => self.escape(into)?,
                _ => return Err(Unsupported("json: unterminated string or raw control")),
            }
        }
    }

    fn escape(&mut self, into: &mut Vec<u8>) -> Res {
        let e = *self
            .s
            .get(self.pos + 1)
            .ok_or(Unsupported("json: escape"))?;
        self.pos += 2;
        let simple = match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let c = self.unicode()?;
                let mut buf = [0u8; 4];
                into.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                return Ok(());
            }
            _ => return Err(Unsupported("json: unknown escape")),
        };
        into.push(simple);
        Ok(())
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

    fn unicode(&mut self) -> Result<char, Unsupported> {
        let hi = self.hex4()?;
        if (0xDC00..0xE000).contains(&hi) {
            return Err(Unsupported("json: lone low surrogate"));
        }
        if !(0xD800..0xDC00).contains(&hi) {
            return char::from_u32(hi).ok_or(Unsupported("json: \\u"));
        }
        if self.s.get(self.pos..self.pos + 2) != Some(b"\\u") {
            return Err(Unsupported("json: lone high surrogate"));
        }
        self.pos += 2;
        let lo = self.hex4()?;
        if !(0xDC00..0xE000).contains(&lo) {
            return Err(Unsupported("json: bad low surrogate"));
        }
        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
            .ok_or(Unsupported("json: \\u"))
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// orjson.loads: an integer literal is an int when it fits i64 or u64, else a
    /// double; a fraction or exponent makes a double.
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
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(Unsupported("json: bad fraction"));
            }
            integer = false;
        }
        let mantissa_end = self.pos;
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(Unsupported("json: bad exponent"));
            }
            integer = false;
        }
        // The slice is ASCII digits and signs: valid UTF-8.
        let text =
            std::str::from_utf8(&self.s[start..self.pos]).map_err(|_| Unsupported("json"))?;
        if integer {
            if let Ok(v) = text.parse::<i64>() {
                write_i64(self.out, v);
                return Ok(());
            }
            if let Ok(v) = text.parse::<u64>() {
                write_u64(self.out, v);
                return Ok(());
            }
        }
        let v: f64 = text.parse().map_err(|_| Unsupported("json: number"))?;
        let nonzero = self.s[start..mantissa_end]
            .iter()
            .any(|b| (b'1'..=b'9').contains(b));
        if !v.is_finite() || (v == 0.0 && nonzero) {
            return Err(Unsupported("json: number out of double range"));
        }
        write_f64(self.out, v);
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
        reserialize(&mut out, text.as_bytes())?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn json_is_minified_and_renumbered() {
        assert_eq!(
            re(r#" {"a": [1, 2.50, null], "b": true} "#).unwrap(),
            r#"{"a":[1,2.5,null],"b":true}"#
        );
        assert_eq!(re("-0").unwrap(), "0");
        assert_eq!(re("1E2").unwrap(), "100.0");
        assert_eq!(re("18446744073709551615").unwrap(), "18446744073709551615");
        assert_eq!(
            re("18446744073709551616").unwrap(),
            "1.8446744073709552e+19"
        );
        assert_eq!(
            re("-9223372036854775809").unwrap(),
            "-9.223372036854776e+18"
        );
        assert_eq!(re(r#""\u00e9\/\ud83d\ude00""#).unwrap(), "\"é/😀\"");
    }

    #[test]
    fn json_doubts_are_unsupported() {
        for text in [
            "1e400",
            r#"{"a":1,"a":2}"#,
            r#""\ud800""#,
            "01",
            "[1,]",
            "1e-400",
            "nul",
        ] {
            assert!(re(text).is_err(), "{text}");
        }
        assert!(re(&"[".repeat(500)).is_err());
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
