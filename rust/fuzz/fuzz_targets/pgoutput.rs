//! Any sequence of pgoutput payloads (the input split at 0xFF bytes; a Relation and a
//! Begin of a table with every mapped type go first, so row values reach the typed
//! encoders) gives lines or a Fallback from the session, never a panic, and every line
//! it writes is a frame the pump accepts (its validator: json values keep numbers
//! beyond f64's range, which serde_json refuses).
#![no_main]

use dstream_core::pgoutput::{Config, Event, Session};
use dstream_core::validate::validate;
use libfuzzer_sys::fuzz_target;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const TYPES: [u32; 24] = [
    16, 17, 20, 23, 25, 114, 3802, 700, 701, 790, 1114, 1184, 1266, 1000, 1001, 1007, 1009, 1021,
    1115, 1185, 1270, 199, 3807, 791,
];

fn relation() -> Vec<u8> {
    let mut m = b"R\0\0\x40\0public\0t\0d".to_vec();
    m.extend((TYPES.len() as i16).to_be_bytes());
    for (i, oid) in TYPES.iter().enumerate() {
        m.push(u8::from(i == 0));
        m.extend(format!("c{i}\0").as_bytes());
        m.extend(oid.to_be_bytes());
        m.extend((-1i32).to_be_bytes());
    }
    m
}

fuzz_target!(|data: &[u8]| {
    let mut tables = HashSet::new();
    tables.insert(("public".to_owned(), "t".to_owned()));
    let mut s = Session::new(Config {
        slot: "s".into(),
        tables,
        oids: HashSet::new(),
        base_types: HashMap::new(),
        resume_lsn: 0,
        checkpoint_every: 1,
        checkpoint_interval: Duration::ZERO,
        truncate_emit: true,
    });
    let mut begin = b"B".to_vec();
    begin.extend([0u8; 20]);
    let mut msgs = vec![relation(), begin];
    msgs.extend(data.split(|&b| b == 0xFF).map(<[u8]>::to_vec));
    let mut at = 0;
    while at < msgs.len() {
        let (next, event) = s.feed(&msgs, at);
        at = if event == Event::Fallback { next + 1 } else { next };
    }
    s.idle();
    for line in s.take().split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Err(e) = validate(line) {
            panic!(
                "the session wrote a line the pump refuses: {e}: {:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
});
