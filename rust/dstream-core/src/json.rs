//! JSON text written byte for byte as orjson writes it: the one definition of the
//! primitives shared by the pgoutput envelope writer and the binding's `dumps`
//! (dstream's own process encodes with it instead of importing orjson). The bytes
//! matter beyond looks: stored input digests are hashes of this text.
//!
//! - strings: `"` `\` and control characters escaped (`\b \t \n \f \r`, else
//!   `\u00xx`), everything else (DEL, non-ASCII, U+2028) raw UTF-8;
//! - floats: shortest round-trip digits in orjson's layout, which is Żmij's (`1e+16`,
//!   `1e-7`, `100.0`); orjson writes NaN and infinities as `null`, which is the
//!   caller's choice to make (pgoutput falls back instead), hence finite only here;
//! - integers: plain decimal digits.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// 0: copy; otherwise the byte after the backslash (`u` for the `\u00xx` form).
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// `s` (valid UTF-8) as a JSON string.
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// The inside of a JSON string (no quotes).
pub fn write_str_body(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let e = ESCAPE[b as usize];
        if e == 0 {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        write_escape(out, b, e);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

fn write_escape(out: &mut Vec<u8>, b: u8, e: u8) {
    if e == b'u' {
        out.extend_from_slice(b"\\u00");
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    } else {
        out.push(b'\\');
        out.push(e);
    }
}

/// A finite double as orjson writes it.
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    let mut buf = zmij::Buffer::new();
    out.extend_from_slice(buf.format_finite(v).as_bytes());
}

pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(v).as_bytes());
}

pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(v).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_orjson() {
        let mut out = Vec::new();
        write_str(
            &mut out,
            "\u{0}\u{1}\u{1f}\u{7f}\u{2028}\"\\/é\u{8}\u{c}\n\r\t".as_bytes(),
        );
        assert_eq!(
            out,
            "\"\\u0000\\u0001\\u001f\u{7f}\u{2028}\\\"\\\\/é\\b\\f\\n\\r\\t\"".as_bytes()
        );
    }

    #[test]
    fn floats_in_orjson_layout() {
        // Expected texts are orjson 3.11's, for the layout's corner cases: the
        // switch to exponents, its sign, subnormals, the extremes, negative zero.
        for (v, want) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1e-6, "1e-6"),
            (1e-7, "1e-7"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (5e-324, "5e-324"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (-1.5e-300, "-1.5e-300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (123456789012345680.0, "1.2345678901234568e+17"),
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{v:?}");
        }
    }

    #[test]
    fn integers_at_their_limits() {
        let mut out = Vec::new();
        write_i64(&mut out, i64::MIN);
        out.push(b',');
        write_i64(&mut out, -1);
        out.push(b',');
        write_u64(&mut out, u64::MAX);
        assert_eq!(out, b"-9223372036854775808,-1,18446744073709551615");
    }
}
