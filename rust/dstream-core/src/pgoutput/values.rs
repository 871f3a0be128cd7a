//! PostgreSQL text-format values as JSON, by type OID: a port of
//! python/dstream/providers/postgres_cdc/values.py (the reference; see its docstring and
//! docs/providers/postgres.md for the decisions). Anything the port does not reproduce
//! exactly is [`Unsupported`], and the Python path converts that row instead.

use super::json::{self, Res, Unsupported};

/// How one value is written (values.py's converters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    Text,
    Bool,
    Bytea,
    Int,
    Json,
    Money,
    Float,
    Timestamp,
    Timestamptz,
    Timetz,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar(Scalar),
    Array(Scalar),
}

/// values.SCALARS
fn scalar(oid: u32) -> Option<Scalar> {
    Some(match oid {
        16 => Scalar::Bool,
        17 => Scalar::Bytea,
        20 | 21 | 23 | 26 => Scalar::Int,
        114 | 3802 => Scalar::Json,
        790 => Scalar::Money,
        700 | 701 => Scalar::Float,
        1114 => Scalar::Timestamp,
        1184 => Scalar::Timestamptz,
        1266 => Scalar::Timetz,
        _ => return None,
    })
}

/// values.ARRAYS: array type OID -> element type OID.
fn array_element(oid: u32) -> Option<u32> {
    Some(match oid {
        1000 => 16,
        1001 => 17,
        1002 => 18,
        1003 => 19,
        1016 => 20,
        1005 => 21,
        1007 => 23,
        1009 => 25,
        1028 => 26,
        199 => 114,
        143 => 142,
        1021 => 700,
        1022 => 701,
        791 => 790,
        1014 => 1042,
        1015 => 1043,
        1182 => 1082,
        1183 => 1083,
        1115 => 1114,
        1185 => 1184,
        1187 => 1186,
        1270 => 1266,
        1231 => 1700,
        2951 => 2950,
        3807 => 3802,
        _ => return None,
    })
}

/// values.converter_for: `base_oid` is the built-in type a derived one (a domain, an
/// array of enums, ...) converts as (values.convert_as), when known.
pub fn kind_for(type_oid: u32, base_oid: Option<u32>) -> Kind {
    let oid = match base_oid {
        Some(b) if b != 0 => b,
        _ => type_oid,
    };
    if let Some(s) = scalar(oid) {
        return Kind::Scalar(s);
    }
    match array_element(oid) {
        Some(element) => Kind::Array(scalar(element).unwrap_or(Scalar::Text)),
        None => Kind::Scalar(Scalar::Text),
    }
}

/// Writes the JSON of one non-NULL value given as `text` (valid UTF-8).
pub fn write_value(out: &mut Vec<u8>, kind: Kind, text: &str) -> Res {
    match kind {
        Kind::Scalar(s) => write_scalar(out, s, text),
        Kind::Array(element) => write_array(out, element, text),
    }
}

pub fn write_scalar(out: &mut Vec<u8>, s: Scalar, text: &str) -> Res {
    match s {
        Scalar::Text => json::write_str(out, text.as_bytes()),
        Scalar::Bool => out.extend_from_slice(if text == "t" { b"true" } else { b"false" }),
        Scalar::Int => {
            let v: i64 = text.parse().map_err(|_| Unsupported("int"))?;
            json::write_i64(out, v);
        }
        Scalar::Float => write_float(out, text)?,
        Scalar::Bytea => write_bytea(out, text)?,
        Scalar::Json => json::compact(out, text.as_bytes())?,
        Scalar::Money => write_money(out, text)?,
        Scalar::Timestamp | Scalar::Timestamptz if is_special_time(text) => {
            json::write_str(out, text.as_bytes());
        }
        Scalar::Timestamp | Scalar::Timestamptz => {
            // text.replace(" ", "T", 1), on the stack for the usual lengths
            let mut buf = [0u8; 64];
            let owned;
            let iso = if text.len() <= buf.len() {
                let b = &mut buf[..text.len()];
                b.copy_from_slice(text.as_bytes());
                if let Some(i) = b.iter().position(|&c| c == b' ') {
                    b[i] = b'T';
                }
                std::str::from_utf8(b).map_err(|_| Unsupported("time"))?
            } else {
                owned = text.replacen(' ', "T", 1);
                owned.as_str()
            };
            if s == Scalar::Timestamp {
                json::write_str(out, iso.as_bytes());
            } else {
                write_iso_offset(out, iso)?;
            }
        }
        Scalar::Timetz => write_iso_offset(out, text)?,
    }
    Ok(())
}

fn is_special_time(text: &str) -> bool {
    text == "infinity" || text == "-infinity" || text.ends_with(" BC")
}

/// values._to_float: NaN and the infinities become strings, the rest JSON numbers.
fn write_float(out: &mut Vec<u8>, text: &str) -> Res {
    let v: f64 = text.parse().map_err(|_| Unsupported("float"))?;
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else {
        json::write_f64(out, v);
    }
    Ok(())
}

/// values._to_money: lc_monetary=C text ("-$1,234.50") as the decimal ("-1234.50").
fn write_money(out: &mut Vec<u8>, text: &str) -> Res {
    const BAD: Unsupported = Unsupported("money: not lc_monetary=C output");
    let b = text.as_bytes();
    let unsigned = b.strip_prefix(b"-").unwrap_or(b);
    let amount = unsigned.strip_prefix(b"$").ok_or(BAD)?;
    let (whole, fraction) = match amount.iter().position(|&c| c == b'.') {
        Some(dot) => (&amount[..dot], Some(&amount[dot + 1..])),
        None => (amount, None),
    };
    // [0-9]{1,3}(,[0-9]{3})*
    let mut groups = whole.split(|&c| c == b',');
    let first = groups.next().unwrap_or_default();
    let digits = |g: &[u8]| g.iter().all(u8::is_ascii_digit);
    if !(1..=3).contains(&first.len()) || !digits(first) {
        return Err(BAD);
    }
    if !groups.all(|g| g.len() == 3 && digits(g)) {
        return Err(BAD);
    }
    if fraction.is_some_and(|f| f.is_empty() || !digits(f)) {
        return Err(BAD);
    }
    out.push(b'"');
    out.extend(b.iter().filter(|&&c| c != b'$' && c != b','));
    out.push(b'"');
    Ok(())
}

/// values._to_bytes: bytea_output=hex text ("\x0102ff") as base64.
fn write_bytea(out: &mut Vec<u8>, text: &str) -> Res {
    let hex = text
        .strip_prefix("\\x")
        .ok_or(Unsupported("bytea: not hex output"))?
        .as_bytes();
    if hex.len() % 2 != 0 {
        return Err(Unsupported("bytea: odd hex"));
    }
    let mut bytes = Vec::with_capacity(hex.len() / 2);
    for pair in hex.chunks(2) {
        let hi = (pair[0] as char).to_digit(16).ok_or(Unsupported("bytea"))?;
        let lo = (pair[1] as char).to_digit(16).ok_or(Unsupported("bytea"))?;
        bytes.push((hi * 16 + lo) as u8);
    }
    out.push(b'"');
    json::write_base64(out, &bytes);
    out.push(b'"');
    Ok(())
}

/// values._iso_offset: "+00" / "-03" -> "+00:00" / "-03:00", "+HH:MM:SS" -> "+HH:MM" at
/// the end of a value; the scan looks at the last nine characters (never the first).
fn write_iso_offset(out: &mut Vec<u8>, text: &str) -> Res {
    if !text.is_ascii() {
        return Err(Unsupported("time: not ASCII"));
    }
    let b = text.as_bytes();
    let n = b.len();
    let stop = n.saturating_sub(10);
    let mut i = n;
    while i > stop + 1 {
        i -= 1;
        if b[i] == b'+' || b[i] == b'-' {
            let offset_len = n - i;
            if offset_len == 3 {
                out.push(b'"');
                json::write_str_body(out, b);
                out.extend_from_slice(b":00\"");
                return Ok(());
            }
            if offset_len == 9 {
                json::write_str(out, &b[..i + 6]);
                return Ok(());
            }
            break;
        }
    }
    json::write_str(out, b);
    Ok(())
}

/// Python's str.isspace (what str.strip removes).
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// values.parse_array: PostgreSQL's array text as nested JSON arrays.
fn write_array(out: &mut Vec<u8>, element: Scalar, text: &str) -> Res {
    let text = if text.starts_with('[') {
        let eq = text.find('=').ok_or(Unsupported("array: no '='"))?;
        &text[eq + 1..]
    } else {
        text
    };
    let end = array_at(out, element, text, 0, 0)?;
    if end != text.len() {
        return Err(Unsupported("array: trailing text"));
    }
    Ok(())
}

fn array_at(
    out: &mut Vec<u8>,
    element: Scalar,
    text: &str,
    mut pos: usize,
    depth: usize,
) -> Result<usize, Unsupported> {
    const BAD: Unsupported = Unsupported("array: malformed");
    let b = text.as_bytes();
    let at = |p: usize| b.get(p).copied().ok_or(BAD);
    if depth > 64 || at(pos)? != b'{' {
        return Err(BAD);
    }
    pos += 1;
    out.push(b'[');
    if at(pos)? == b'}' {
        out.push(b']');
        return Ok(pos + 1);
    }
    let mut chunk = Vec::new();
    loop {
        match at(pos)? {
            b'{' => pos = array_at(out, element, text, pos, depth + 1)?,
            b'"' => {
                pos += 1;
                chunk.clear();
                while at(pos)? != b'"' {
                    if b[pos] == b'\\' {
                        pos += 1;
                    }
                    chunk.push(at(pos)?);
                    pos += 1;
                }
                pos += 1;
                let s = std::str::from_utf8(&chunk).map_err(|_| BAD)?;
                write_scalar(out, element, s)?;
            }
            _ => {
                let start = pos;
                while !matches!(at(pos)?, b',' | b'}') {
                    pos += 1;
                }
                let raw = text[start..pos].trim_matches(py_space);
                if raw == "NULL" {
                    out.extend_from_slice(b"null");
                } else {
                    write_scalar(out, element, raw)?;
                }
            }
        }
        match at(pos)? {
            b',' => {
                pos += 1;
                out.push(b',');
            }
            b'}' => {
                out.push(b']');
                return Ok(pos + 1);
            }
            _ => return Err(BAD),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(oid: u32, text: &str) -> Result<String, Unsupported> {
        let mut out = Vec::new();
        write_value(&mut out, kind_for(oid, None), text)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn values_are_typed_by_oid() {
        let cases = [
            (16, "t", "true"),
            (20, "9223372036854775807", "9223372036854775807"),
            (701, "NaN", "\"NaN\""),
            (701, "-Infinity", "\"-Infinity\""),
            (700, "1.1", "1.1"),
            (
                1700,
                "12345678901234567890.000000000001",
                "\"12345678901234567890.000000000001\"",
            ),
            (17, "\\x00ff10", "\"AP8Q\""),
            (790, "$1.50", "\"1.50\""),
            (790, "-$0.01", "\"-0.01\""),
            (
                790,
                "-$92,233,720,368,547,758.08",
                "\"-92233720368547758.08\"",
            ),
            (
                791,
                "{\"-$1,234.50\",$1.50,NULL}",
                r#"["-1234.50","1.50",null]"#,
            ),
            (3802, "[1e400, 0.10]", "[1e400,0.10]"),
            (
                199,
                r#"{"{\"k\": 1, \"k\": 2}",NULL}"#,
                r#"[{"k":1,"k":2},null]"#,
            ),
            (
                1114,
                "2024-01-02 03:04:05.123456",
                "\"2024-01-02T03:04:05.123456\"",
            ),
            (
                1184,
                "2024-01-02 03:04:05+00",
                "\"2024-01-02T03:04:05+00:00\"",
            ),
            (
                1184,
                "1900-01-02 03:04:05+00:19:32",
                "\"1900-01-02T03:04:05+00:19\"",
            ),
            (1184, "2024-01-02 03:04:05 BC", "\"2024-01-02 03:04:05 BC\""),
            (1266, "04:05:06+02", "\"04:05:06+02:00\""),
            (1007, "{1,2,NULL}", "[1,2,null]"),
            (
                1009,
                r#"{"a b","c\"d",NULL,"NULL"}"#,
                r#"["a b","c\"d",null,"NULL"]"#,
            ),
            (1007, "{{1,2},{3,4}}", "[[1,2],[3,4]]"),
            (1007, "[0:1]={7,8}", "[7,8]"),
            (1231, "{1.10,2}", r#"["1.10","2"]"#),
            (1009, "{\u{a0}x}", r#"["x"]"#),
            (1007, "{}", "[]"),
        ];
        for (oid, text, want) in cases {
            assert_eq!(conv(oid, text).unwrap(), want, "{oid} {text}");
        }
    }

    #[test]
    fn doubtful_values_go_to_python() {
        for (oid, text) in [
            (23, "x"),
            (17, "00"),
            (1007, "{1,2"),
            (1007, "[0:1]{1}"),
            (701, " 1"),
            (790, "1.50"),
            (790, "$1,5"),
            (790, "$1.50 "),
            (790, "$"),
            (790, "-$"),
            (790, "$1."),
            (790, "$1,23.00"),
            (790, "$1.5x"),
            (790, "€1.50"),
        ] {
            assert!(conv(oid, text).is_err(), "{oid} {text}");
        }
    }
}
