//! The exact bytes of one top-level member's value in a validated object: how a
//! checkpoint stays opaque. dstream never parses a checkpoint into numbers or strings
//! (a JSON layer would round `18446744073709551617` or refuse `1e400`); it carries the
//! value's bytes from the frame to the state store and back, and compares an
//! acknowledgement with what was sent byte for byte.

use super::scan::{parse_string, skip_ws};
use super::unescape;

/// Index just after the value starting at `s[i]`, in a text the validator accepted.
fn skip_value(s: &[u8], i: usize) -> Option<usize> {
    match *s.get(i)? {
        b'"' => parse_string(s, i + 1).ok().map(|(end, _)| end),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < s.len() {
                match s[j] {
                    b'"' => {
                        j = parse_string(s, j + 1).ok()?.0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            // a number or a literal: up to the next delimiter
            let len = s[i..]
                .iter()
                .position(|&c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(s.len() - i);
            Some(i + len)
        }
    }
}

/// Byte range of the value of the top-level member `key` (escapes in member names
/// decoded; the last one when the key repeats, as most JSON readers do) in `s`, a
/// frame that [`super::validate`] accepted. Whitespace around the value is not part
/// of it. None when `s` is not such an object or has no such member.
pub fn member(s: &[u8], key: &[u8]) -> Option<(usize, usize)> {
    let mut i = skip_ws(s, 0);
    if s.get(i) != Some(&b'{') {
        return None;
    }
    let mut found = None;
    loop {
        i = skip_ws(s, i + 1);
        if s.get(i)? != &b'"' {
            return found; // `}` of an empty object
        }
        let (end, escaped) = parse_string(s, i + 1).ok()?;
        let raw = &s[i + 1..end - 1];
        let matches = if escaped {
            unescape(raw).as_bytes() == key
        } else {
            raw == key
        };
        i = skip_ws(s, end);
        if s.get(i)? != &b':' {
            return None;
        }
        let start = skip_ws(s, i + 1);
        let stop = skip_value(s, start)?;
        if matches {
            found = Some((start, stop));
        }
        i = skip_ws(s, stop);
        match s.get(i)? {
            b',' => continue,
            b'}' => return found,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(s: &'a str, key: &str) -> Option<&'a str> {
        member(s.as_bytes(), key.as_bytes()).map(|(a, b)| &s[a..b])
    }

    #[test]
    fn the_exact_bytes_of_the_value() {
        let k = "checkpoint";
        assert_eq!(
            value(r#"{"checkpoint":18446744073709551617}"#, k),
            Some("18446744073709551617")
        );
        assert_eq!(value(r#"{"checkpoint":1e400}"#, k), Some("1e400"));
        assert_eq!(value(r#"{ "checkpoint" :  [1, 2]  }"#, k), Some("[1, 2]"));
        assert_eq!(
            value(r#"{"a":"}\"{","checkpoint":{"b":[1,{"c":"]"}]}}"#, k),
            Some(r#"{"b":[1,{"c":"]"}]}"#)
        );
        assert_eq!(
            value(r#"{"checkpoint":"x","durable":true}"#, k),
            Some(r#""x""#)
        );
        assert_eq!(value(r#"{"\u0063heckpoint":null}"#, k), Some("null"));
        assert_eq!(value(r#"{"checkpoint":1,"checkpoint":2}"#, k), Some("2"));
        assert_eq!(value(r#"{"data":1}"#, k), None);
        assert_eq!(value(r#"{}"#, k), None);
        assert_eq!(value(r#"[1]"#, k), None);
    }
}
