//! Session behaviour on hand-built messages, and the no-panic property: any bytes give
//! lines or a Fallback, never a panic. (Byte-identity with the Python decoder is proven
//! against a real server in tests/cdc/test_pgoutput_differential.py.)

use super::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

fn session(every: u64) -> Session {
    session_from(every, 0)
}

fn session_from(every: u64, resume_lsn: u64) -> Session {
    let mut tables = HashSet::new();
    tables.insert(("public".to_owned(), "t".to_owned()));
    Session::new(Config {
        slot: "s".into(),
        tables,
        oids: HashSet::new(),
        base_types: HashMap::new(),
        resume_lsn,
        checkpoint_every: every,
        checkpoint_interval: Duration::from_secs(3600),
        truncate_emit: true,
    })
}

pub fn relation(oid: u32, name: &str, cols: &[(&str, u32, bool)]) -> Vec<u8> {
    let mut m = vec![b'R'];
    m.extend(oid.to_be_bytes());
    m.extend(b"public\0");
    m.extend(name.as_bytes());
    m.extend(b"\0d");
    m.extend((cols.len() as i16).to_be_bytes());
    for (col, type_oid, key) in cols {
        m.push(u8::from(*key));
        m.extend(col.as_bytes());
        m.push(0);
        m.extend(type_oid.to_be_bytes());
        m.extend((-1i32).to_be_bytes());
    }
    m
}

pub fn tuple(values: &[Option<&str>]) -> Vec<u8> {
    let mut m = (values.len() as i16).to_be_bytes().to_vec();
    for v in values {
        match v {
            Some("\u{0}u") => m.push(b'u'),
            Some(text) => {
                m.push(b't');
                m.extend((text.len() as i32).to_be_bytes());
                m.extend(text.as_bytes());
            }
            None => m.push(b'n'),
        }
    }
    m
}

pub fn begin(lsn: u64, xid: u32) -> Vec<u8> {
    let mut m = vec![b'B'];
    m.extend(lsn.to_be_bytes());
    m.extend(0i64.to_be_bytes());
    m.extend(xid.to_be_bytes());
    m
}

pub fn commit(end: u64) -> Vec<u8> {
    let mut m = vec![b'C', 0];
    m.extend(end.to_be_bytes());
    m.extend(end.to_be_bytes());
    m.extend(0i64.to_be_bytes());
    m
}

fn insert(oid: u32, values: &[Option<&str>]) -> Vec<u8> {
    let mut m = vec![b'I'];
    m.extend(oid.to_be_bytes());
    m.push(b'N');
    m.extend(tuple(values));
    m
}

fn corpus() -> Vec<Vec<u8>> {
    let cols = [("id", 23, true), ("note", 25, false), ("j", 3802, false)];
    let mut update = vec![b'U'];
    update.extend(16384u32.to_be_bytes());
    update.push(b'K');
    update.extend(tuple(&[Some("1"), None, None]));
    update.push(b'N');
    update.extend(tuple(&[Some("2"), Some("\u{0}u"), Some("[1, 2.0]")]));
    vec![
        relation(16384, "t", &cols),
        relation(16385, "other", &cols),
        begin(0x100, 7),
        insert(16384, &[Some("1"), Some("é\"\n"), Some(r#"{"a": 1}"#)]),
        insert(16385, &[Some("9"), None, None]),
        update,
        commit(0x200),
    ]
}

#[test]
fn a_transaction_becomes_lines_and_a_checkpoint() {
    let mut s = session(1);
    let msgs = corpus();
    assert_eq!(s.feed(&msgs, 0), (1, Event::Relation));
    assert_eq!(s.feed(&msgs, 1), (2, Event::Relation));
    assert_eq!(s.feed(&msgs, 2), (msgs.len(), Event::Done));
    let out = String::from_utf8(s.take()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    let meta = r#""LSN":"0/100","Seq":0,"CommitTime":"2000-01-01T00:00:00Z","TransactionId":7"#;
    assert_eq!(
        lines[0],
        format!(
            r#"{{"data":{{"id":1,"note":"é\"\n","j":{{"a":1}}}},"metadata":{{"TableName":"t","Schema":"public","OperationType":"Insert",{meta}}}}}"#
        )
    );
    assert_eq!(
        lines[1],
        r#"{"data":{"id":2,"j":[1,2.0]},"metadata":{"TableName":"t","Schema":"public","OperationType":"Update","LSN":"0/100","Seq":1,"CommitTime":"2000-01-01T00:00:00Z","TransactionId":7,"UnchangedColumns":["note"],"OldKey":{"id":1}}}"#
    );
    assert_eq!(lines[2], r#"{"checkpoint":{"lsn":"0/200","slot":"s"}}"#);
    assert_eq!(lines.len(), 3);
    assert_eq!(s.counters().changes, 2);
}

#[test]
fn an_unconvertible_value_stops_at_its_message_with_nothing_written() {
    let mut s = session(1000);
    let msgs = vec![
        relation(16384, "t", &[("id", 23, true)]),
        begin(0x100, 7),
        insert(16384, &[Some("1")]),
        insert(16384, &[Some("not a number")]),
    ];
    assert_eq!(s.feed(&msgs, 0), (1, Event::Relation));
    assert_eq!(s.feed(&msgs, 1), (3, Event::Fallback));
    assert_eq!(s.seq(), 1);
    s.push(b"{\"x\":1}\n", 1, 1);
    s.isolate("public.t");
    assert_eq!(s.feed(&msgs, 3), (4, Event::Isolated));
    assert_eq!(s.counters().isolated.get("public.t"), Some(&2));
    s.feed(&[commit(0x200)], 0);
    s.idle();
    let out = String::from_utf8(s.take()).unwrap();
    assert!(out.ends_with("{\"x\":1}\n{\"checkpoint\":{\"lsn\":\"0/200\",\"slot\":\"s\",\"isolated\":[\"public.t\"]}}\n"), "{out}");
}

#[test]
fn a_renamed_table_is_captured_by_its_oid() {
    let mut s = session(1);
    let msgs = vec![
        relation(16384, "t_renamed", &[("id", 23, true)]),
        begin(0x100, 7),
        insert(16384, &[Some("1")]),
        commit(0x200),
    ];
    s.feed(&msgs, 0);
    s.feed(&msgs, 1);
    assert_eq!(s.buffered(), 0, "not configured by that name, nor by OID");

    let mut tables = HashSet::new();
    tables.insert(("public".to_owned(), "t".to_owned()));
    let mut s = Session::new(Config {
        slot: "s".into(),
        tables,
        oids: [16384].into_iter().collect(),
        base_types: HashMap::new(),
        resume_lsn: 0,
        checkpoint_every: 1,
        checkpoint_interval: Duration::from_secs(3600),
        truncate_emit: true,
    });
    assert_eq!(s.feed(&msgs, 0), (1, Event::Relation));
    assert_eq!(s.feed(&msgs, 1), (msgs.len(), Event::Done));
    let out = String::from_utf8(s.take()).unwrap();
    assert!(
        out.starts_with(r#"{"data":{"id":1},"metadata":{"TableName":"t_renamed""#),
        "{out}"
    );
    assert_eq!(s.last_checkpoint_lsn(), 0x200);
    assert!(
        out.ends_with(
            "{\"checkpoint\":{\"lsn\":\"0/200\",\"slot\":\"s\",\"table_oids\":[16384]}}\n"
        ),
        "the checkpoint names the captured tables by OID: {out}"
    );
}

#[test]
fn every_change_of_an_isolated_table_is_reported() {
    let mut s = session(1000);
    let msgs = vec![
        relation(16384, "t", &[("id", 23, true)]),
        begin(0x100, 7),
        insert(16384, &[Some("1")]),
        insert(16384, &[Some("2")]),
        commit(0x200),
    ];
    s.feed(&msgs, 0);
    s.isolate("public.t");
    assert_eq!(s.feed(&msgs, 1), (3, Event::Isolated));
    assert_eq!(s.feed(&msgs, 3), (4, Event::Isolated));
    assert_eq!(s.feed(&msgs, 4), (5, Event::Done));
    assert_eq!(s.counters().isolated.get("public.t"), Some(&3));
    assert_eq!(s.last_checkpoint_lsn(), 0);
    s.idle();
    assert_eq!(s.last_checkpoint_lsn(), 0x200);
}

#[test]
fn replayed_transactions_are_skipped() {
    let mut s = session_from(1, 0x300);
    let msgs = corpus();
    s.feed(&msgs, 0);
    s.feed(&msgs, 1);
    assert_eq!(s.feed(&msgs, 2), (msgs.len(), Event::Done));
    assert_eq!(s.buffered(), 0);
    assert_eq!(s.counters().skipped_replayed, 1);
}

fn run_all(s: &mut Session, msgs: &[Vec<u8>]) {
    let mut at = 0;
    while at < msgs.len() {
        let (next, event) = s.feed(msgs, at);
        at = if event == Event::Fallback {
            next + 1
        } else {
            next
        };
    }
    s.idle();
    for line in s.take().split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        serde_json::from_slice::<serde_json::Value>(line).expect("every line is JSON");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

    #[test]
    fn random_bytes_never_panic(msgs in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..64), 0..8)) {
        run_all(&mut session(2), &msgs);
    }

    #[test]
    fn corrupted_messages_never_panic(
        which in 0usize..7,
        at in 0usize..200,
        byte in proptest::num::u8::ANY,
        cut in 0usize..200,
    ) {
        let mut msgs = corpus();
        let m = &mut msgs[which];
        if at < m.len() {
            m[at] = byte;
        }
        m.truncate(cut.max(1));
        run_all(&mut session(1), &msgs);
    }

    #[test]
    fn any_text_value_never_panics(
        oid in proptest::sample::select(vec![16u32, 17, 20, 23, 25, 114, 3802, 700, 701, 1114, 1184, 1266, 1000, 1001, 1007, 1009, 1021, 1115, 1185, 1270, 199, 3807]),
        text in "\\PC{0,40}|[{}\",\\\\ NULL0-9a-f\\[\\]=:x.e+-]{0,40}",
    ) {
        let mut s = session(1);
        let msgs = vec![
            relation(16384, "t", &[("v", oid, false)]),
            begin(1, 1),
            insert(16384, &[Some(text.as_str())]),
            commit(2),
        ];
        run_all(&mut s, &msgs);
    }
}

/// `cargo test --release -p dstream-core -- --ignored feed_speed --nocapture`: CPU per
/// row of a 10-column mixed-type row (the benches' table).
#[test]
#[ignore]
fn feed_speed() {
    let cols = [
        ("id", 20, true),
        ("name", 25, false),
        ("amount", 1700, false),
        ("at", 1184, false),
        ("even", 16, false),
        ("qty", 23, false),
        ("score", 701, false),
        ("tags", 1009, false),
        ("doc", 3802, false),
        ("uid", 2950, false),
    ];
    let mut msgs = vec![relation(16384, "t", &cols), begin(1, 1)];
    for g in 0..100_000u64 {
        let v = [
            g.to_string(),
            format!("event {g}"),
            format!("{}.25", g),
            "2024-01-02 03:04:05+00".to_string(),
            "t".to_string(),
            (g % 1000).to_string(),
            format!("{}", g as f64 / 7.0),
            format!("{{a,b{g}}}"),
            format!("{{\"k\": {g}, \"v\": \"x\"}}"),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".to_string(),
        ];
        let vals: Vec<Option<&str>> = v.iter().map(|s| Some(s.as_str())).collect();
        msgs.push(insert(16384, &vals));
    }
    msgs.push(commit(2));
    let mut s = session(1000);
    let t = std::time::Instant::now();
    for chunk in msgs.chunks(4096) {
        let mut at = 0;
        while at < chunk.len() {
            let (next, event) = s.feed(chunk, at);
            assert_ne!(event, Event::Fallback);
            at = next;
        }
        s.clear_output();
    }
    eprintln!(
        "{:.3} us per row",
        t.elapsed().as_secs_f64() * 1e6 / 100_000.0
    );
}
