//! Envelope, truncate and checkpoint lines, byte for byte as stream.py builds them with
//! orjson (same keys, same order, no spaces).

use super::json::{self, Res};
use super::values::write_value;
use super::wire::{Cell, Relation, Row};

/// The transaction's metadata, pre-encoded as JSON values (`null` before any Begin, as
/// stream.py's empty txn_meta gives).
#[derive(Debug, Clone)]
pub struct TxnMeta {
    pub lsn: Option<String>,
    pub commit_time: Option<String>,
    pub xid: Option<u32>,
    tail: Vec<u8>,
}

impl Default for TxnMeta {
    fn default() -> TxnMeta {
        TxnMeta {
            lsn: None,
            commit_time: None,
            xid: None,
            tail: b",\"LSN\":null,\"Seq\":".to_vec(),
        }
    }
}

impl TxnMeta {
    /// None when the commit time is outside what Python's datetime prints (years 1-9999).
    pub fn new(final_lsn: u64, commit_time: i64, xid: u32) -> Option<TxnMeta> {
        let lsn = format_lsn(final_lsn);
        let time = pg_time(commit_time)?;
        let mut tail = b",\"LSN\":".to_vec();
        json::write_str(&mut tail, lsn.as_bytes());
        tail.extend_from_slice(b",\"Seq\":");
        Some(TxnMeta {
            lsn: Some(lsn),
            commit_time: Some(time),
            xid: Some(xid),
            tail,
        })
    }

    /// `,"LSN":…,"Seq":<seq>,"CommitTime":…,"TransactionId":…`
    fn write(&self, out: &mut Vec<u8>, seq: u64) {
        out.extend_from_slice(&self.tail);
        json::write_u64(out, seq);
        out.extend_from_slice(b",\"CommitTime\":");
        match &self.commit_time {
            Some(t) => json::write_str(out, t.as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"TransactionId\":");
        match self.xid {
            Some(x) => json::write_u64(out, u64::from(x)),
            None => out.extend_from_slice(b"null"),
        }
    }
}

/// pgoutput.format_lsn: "16/B374D848".
pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// pgoutput.pg_time: microseconds since 2000-01-01 UTC as Python's isoformat, "Z" zone.
pub fn pg_time(micros: i64) -> Option<String> {
    const DAY: i64 = 86_400_000_000;
    let days = micros.div_euclid(DAY) + 10_957; // since 1970-01-01
    let rem = micros.rem_euclid(DAY);
    let (y, m, d) = civil(days);
    if !(1..=9999).contains(&y) {
        return None;
    }
    let secs = rem / 1_000_000;
    let us = rem % 1_000_000;
    let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut s = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
    if us != 0 {
        s.push_str(&format!(".{us:06}"));
    }
    s.push('Z');
    Some(s)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn head(out: &mut Vec<u8>, rel: &Relation, op: &[u8], meta: &TxnMeta, seq: u64) {
    out.extend_from_slice(b",\"metadata\":{\"TableName\":");
    json::write_str(out, rel.name.as_bytes());
    out.extend_from_slice(b",\"Schema\":");
    json::write_str(out, rel.schema.as_bytes());
    out.extend_from_slice(b",\"OperationType\":\"");
    out.extend_from_slice(op);
    out.push(b'"');
    meta.write(out, seq);
}

/// stream.ChangeStream._envelope, encoded.
pub fn row(
    out: &mut Vec<u8>,
    rel: &Relation,
    row: &Row,
    payload: &[u8],
    cells: &[Cell],
    meta: &TxnMeta,
    seq: u64,
) -> Res {
    let keys_only = row.old_kind == Some(b'K');
    let range = |r: Option<(usize, usize)>| r.map(|(a, b)| &cells[a..b]);
    out.extend_from_slice(b"{\"data\":");
    let mut unchanged = Vec::new();
    if row.kind == b'D' {
        match range(row.old) {
            Some(old) => typed_row(out, rel, old, payload, keys_only, &mut unchanged)?,
            None => out.extend_from_slice(b"null"),
        }
    } else {
        let new = range(row.new).unwrap_or(&[]);
        typed_row(out, rel, new, payload, false, &mut unchanged)?;
    }
    let op: &[u8] = match row.kind {
        b'I' => b"Insert",
        b'U' => b"Update",
        _ => b"Delete",
    };
    head(out, rel, op, meta, seq);
    if row.kind == b'D' {
        if keys_only {
            out.extend_from_slice(b",\"KeyOnly\":true");
        }
    } else {
        if !unchanged.is_empty() {
            // pgoutput does not resend an unchanged TOASTed value: say which.
            out.extend_from_slice(b",\"UnchangedColumns\":[");
            for (i, &c) in unchanged.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json::write_str(out, rel.columns[c].name.as_bytes());
            }
            out.push(b']');
        }
        if let Some(old) = range(row.old) {
            out.extend_from_slice(if keys_only {
                b",\"OldKey\":"
            } else {
                b",\"Before\":"
            });
            typed_row(out, rel, old, payload, keys_only, &mut Vec::new())?;
        }
    }
    out.extend_from_slice(b"}}\n");
    Ok(())
}

/// pgoutput.typed_row: column name -> value; unchanged-TOAST columns are left out and
/// their indexes collected.
fn typed_row(
    out: &mut Vec<u8>,
    rel: &Relation,
    cells: &[Cell],
    payload: &[u8],
    keys_only: bool,
    unchanged: &mut Vec<usize>,
) -> Res {
    out.push(b'{');
    let mut first = true;
    for (i, (col, cell)) in rel.columns.iter().zip(cells).enumerate() {
        if keys_only && !col.is_key {
            continue;
        }
        let (start, end) = match *cell {
            Cell::Unchanged => {
                unchanged.push(i);
                continue;
            }
            Cell::Null => (0, 0),
            Cell::Text(start, end) => (start, end),
        };
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(&col.key_json);
        if *cell == Cell::Null {
            out.extend_from_slice(b"null");
        } else {
            // Checked UTF-8 when the tuple was decoded.
            let text = std::str::from_utf8(&payload[start..end])
                .map_err(|_| json::Unsupported("utf-8"))?;
            write_value(out, col.kind, text)?;
        }
    }
    out.push(b'}');
    Ok(())
}

/// stream.ChangeStream._truncate_lines, one table.
pub fn truncate(out: &mut Vec<u8>, rel: &Relation, meta: &TxnMeta, seq: u64, flags: (bool, bool)) {
    let b = |v: bool| -> &[u8] {
        if v {
            b"true"
        } else {
            b"false"
        }
    };
    out.extend_from_slice(b"{\"data\":null");
    head(out, rel, b"Truncate", meta, seq);
    out.extend_from_slice(b",\"Cascade\":");
    out.extend_from_slice(b(flags.0));
    out.extend_from_slice(b",\"RestartIdentity\":");
    out.extend_from_slice(b(flags.1));
    out.extend_from_slice(b"}}\n");
}

/// A checkpoint line: `table_oids` (the captured tables' OIDs, sorted; left out when
/// empty) tells the next run which tables this position covers, `isolated` in sorted
/// order.
pub fn checkpoint<'a>(
    out: &mut Vec<u8>,
    lsn: u64,
    slot: &str,
    table_oids: &[u32],
    isolated: impl ExactSizeIterator<Item = &'a String>,
) {
    out.extend_from_slice(b"{\"checkpoint\":{\"lsn\":");
    json::write_str(out, format_lsn(lsn).as_bytes());
    out.extend_from_slice(b",\"slot\":");
    json::write_str(out, slot.as_bytes());
    if !table_oids.is_empty() {
        out.extend_from_slice(b",\"table_oids\":[");
        for (i, oid) in table_oids.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(oid.to_string().as_bytes());
        }
        out.push(b']');
    }
    if isolated.len() > 0 {
        out.extend_from_slice(b",\"isolated\":[");
        for (i, table) in isolated.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, table.as_bytes());
        }
        out.push(b']');
    }
    out.extend_from_slice(b"}}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_python_does() {
        assert_eq!(pg_time(0).unwrap(), "2000-01-01T00:00:00Z");
        assert_eq!(pg_time(-1).unwrap(), "1999-12-31T23:59:59.999999Z");
        assert_eq!(
            pg_time(764_553_600_000_001).unwrap(),
            "2024-03-24T00:00:00.000001Z"
        );
        assert_eq!(
            pg_time(-63_082_281_600_000_000).unwrap(),
            "0001-01-01T00:00:00Z"
        );
        assert!(pg_time(-63_082_281_600_000_001).is_none());
        assert!(pg_time(i64::MAX).is_none());
    }

    #[test]
    fn lsn_is_upper_hex() {
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        assert_eq!(format_lsn(0), "0/0");
    }
}
