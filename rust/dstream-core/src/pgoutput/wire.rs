//! pgoutput protocol version 1 messages (text values), as the Python decoder
//! (python/dstream/providers/postgres_cdc/pgoutput.py) reads them: the same fields at the
//! same offsets, and the same leniency (trailing bytes ignored, a negative count read as
//! zero), so a message one decoder rejects the other rejects too. Tuples are stricter
//! here; a row this module rejects is handed to the Python path whole.

use super::json;
use super::values::{kind_for, Kind};
use std::collections::HashMap;

/// A message this module cannot decode; the Python decoder reports (or handles) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

type R<T> = Result<T, Malformed>;

fn bytes<const N: usize>(p: &[u8], at: usize) -> R<[u8; N]> {
    let end = at.checked_add(N).ok_or(Malformed)?;
    p.get(at..end)
        .ok_or(Malformed)?
        .try_into()
        .map_err(|_| Malformed)
}

fn u8_at(p: &[u8], at: usize) -> R<u8> {
    p.get(at).copied().ok_or(Malformed)
}
fn i16_at(p: &[u8], at: usize) -> R<i16> {
    Ok(i16::from_be_bytes(bytes(p, at)?))
}
fn i32_at(p: &[u8], at: usize) -> R<i32> {
    Ok(i32::from_be_bytes(bytes(p, at)?))
}
fn u32_at(p: &[u8], at: usize) -> R<u32> {
    Ok(u32::from_be_bytes(bytes(p, at)?))
}
fn u64_at(p: &[u8], at: usize) -> R<u64> {
    Ok(u64::from_be_bytes(bytes(p, at)?))
}
fn i64_at(p: &[u8], at: usize) -> R<i64> {
    Ok(i64::from_be_bytes(bytes(p, at)?))
}

fn cstring(p: &[u8], at: usize) -> R<(String, usize)> {
    let rest = p.get(at..).ok_or(Malformed)?;
    let end = memchr::memchr(0, rest).ok_or(Malformed)?;
    let s = std::str::from_utf8(&rest[..end]).map_err(|_| Malformed)?;
    Ok((s.to_owned(), at + end + 1))
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
    pub is_key: bool,
    pub kind: Kind,
    /// `"name":` as JSON, written before every value.
    pub key_json: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    /// Two columns of one name: a Python dict would fold them, so rows go to Python.
    pub repeated_names: bool,
    /// "schema.name"
    pub qualified: String,
    /// In the tables the session captures (set by the session).
    pub wanted: bool,
}

/// One value of a tuple: the text is `payload[start..end]`, checked UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Null,
    Unchanged,
    Text(usize, usize),
}

/// A row change; `new`/`old` are ranges of the cells buffer it was decoded into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub kind: u8,
    pub oid: u32,
    pub new: Option<(usize, usize)>,
    pub old: Option<(usize, usize)>,
    /// b'K' (key columns only) or b'O' (full old row).
    pub old_kind: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Begin {
        final_lsn: u64,
        commit_time: i64,
        xid: u32,
    },
    Commit {
        end_lsn: u64,
    },
    /// The relation was stored under this OID.
    Relation(u32),
    Row(Row),
    Truncate {
        oids: Vec<u32>,
        cascade: bool,
        restart_identity: bool,
    },
    /// Origin, logical Message, Type: recognised and ignored.
    Ignored,
}

/// Decodes one message. A Relation is stored in `relations`; a row's values go to
/// `cells` (cleared first).
pub fn decode(
    p: &[u8],
    base_types: &HashMap<u32, u32>,
    relations: &mut HashMap<u32, Relation>,
    cells: &mut Vec<Cell>,
) -> R<Message> {
    match p.first().copied() {
        Some(b'I' | b'U' | b'D') => row(p, cells).map(Message::Row),
        Some(b'B') => Ok(Message::Begin {
            final_lsn: u64_at(p, 1)?,
            commit_time: i64_at(p, 9)?,
            xid: u32_at(p, 17)?,
        }),
        Some(b'C') => {
            u64_at(p, 2)?;
            let end_lsn = u64_at(p, 10)?;
            i64_at(p, 18)?;
            Ok(Message::Commit { end_lsn })
        }
        Some(b'R') => {
            let rel = relation(p, base_types)?;
            let oid = rel.oid;
            relations.insert(oid, rel);
            Ok(Message::Relation(oid))
        }
        Some(b'T') => {
            let count = i32_at(p, 1)?;
            let options = u8_at(p, 5)?;
            let mut oids = Vec::new();
            for i in 0..count.max(0) as usize {
                oids.push(u32_at(p, 6 + 4 * i)?);
            }
            Ok(Message::Truncate {
                oids,
                cascade: options & 1 != 0,
                restart_identity: options & 2 != 0,
            })
        }
        Some(b'O' | b'M' | b'Y') => Ok(Message::Ignored),
        _ => Err(Malformed),
    }
}

fn relation(p: &[u8], base_types: &HashMap<u32, u32>) -> R<Relation> {
    let oid = u32_at(p, 1)?;
    let (schema, pos) = cstring(p, 5)?;
    let (name, mut pos) = cstring(p, pos)?;
    u8_at(p, pos)?; // replica identity
    let ncols = i16_at(p, pos + 1)?;
    pos += 3;
    let mut columns: Vec<Column> = Vec::new();
    for _ in 0..ncols.max(0) {
        let flags = u8_at(p, pos)?;
        let (col_name, next) = cstring(p, pos + 1)?;
        let type_oid = u32_at(p, next)?;
        pos = next + 8; // type oid + typmod
        let mut key_json = Vec::with_capacity(col_name.len() + 3);
        json::write_str(&mut key_json, col_name.as_bytes());
        key_json.push(b':');
        columns.push(Column {
            key_json,
            name: col_name,
            type_oid,
            is_key: flags & 1 != 0,
            kind: kind_for(type_oid, base_types.get(&type_oid).copied()),
        });
    }
    let mut names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    let repeated_names = names.windows(2).any(|w| w[0] == w[1]);
    Ok(Relation {
        oid,
        qualified: format!("{schema}.{name}"),
        schema,
        name,
        columns,
        repeated_names,
        wanted: false,
    })
}

fn row(p: &[u8], cells: &mut Vec<Cell>) -> R<Row> {
    cells.clear();
    let kind = p[0];
    let oid = u32_at(p, 1)?;
    let tag = u8_at(p, 5)?;
    let mut out = Row {
        kind,
        oid,
        new: None,
        old: None,
        old_kind: None,
    };
    if tag == b'K' || tag == b'O' {
        out.old_kind = Some(tag);
        let (range, mut pos) = tuple(p, 6, cells)?;
        out.old = Some(range);
        if kind == b'U' {
            pos += 1; // the 'N' that follows
            out.new = Some(tuple(p, pos, cells)?.0);
        }
    } else {
        out.new = Some(tuple(p, 6, cells)?.0);
    }
    Ok(out)
}

fn tuple(p: &[u8], mut pos: usize, cells: &mut Vec<Cell>) -> R<((usize, usize), usize)> {
    let ncols = i16_at(p, pos)?;
    pos += 2;
    let first = cells.len();
    for _ in 0..ncols.max(0) {
        let tag = u8_at(p, pos)?;
        pos += 1;
        match tag {
            b't' => {
                let len = usize::try_from(i32_at(p, pos)?).map_err(|_| Malformed)?;
                pos += 4;
                let end = pos.checked_add(len).ok_or(Malformed)?;
                let text = p.get(pos..end).ok_or(Malformed)?;
                simdutf8::basic::from_utf8(text).map_err(|_| Malformed)?;
                cells.push(Cell::Text(pos, end));
                pos = end;
            }
            b'n' => cells.push(Cell::Null),
            b'u' => cells.push(Cell::Unchanged),
            _ => return Err(Malformed),
        }
    }
    Ok(((first, cells.len()), pos))
}
