//! A legacy input's frames that look like a status line (a provider of the protocol
//! that printed a banner on stdout before its handshake) are still delivered, as the
//! contract says, and handed to the runtime, which warns (runtime/legacy.py).
#![cfg(unix)]

mod common;

use common::{drain, feeder, pipe};
use dstream_core::{Options, Outcome, Pump};
use std::os::fd::AsRawFd;

/// Status lines handed out: (stream offset, frame).
type Held = Vec<(u64, Vec<u8>)>;

/// Runs a pump over `input`: (outcome, output bytes, status lines handed out).
fn run(input: &[u8], legacy_logs: bool) -> (Outcome, Vec<u8>, Held) {
    let (ir, iw) = pipe();
    let (or, ow) = pipe();
    let f = feeder(iw, input.to_vec());
    let d = drain(or);
    let opts = Options {
        legacy_logs,
        ..Options::default()
    };
    let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, b"").unwrap();
    let h = p.handle();
    let result = p.run();
    drop(ow);
    drop(ir);
    f.join().unwrap();
    (result.outcome, d.join().unwrap(), h.take_status_lines())
}

#[test]
fn a_legacy_inputs_status_like_frames_are_delivered_and_handed_out() {
    let ready = b"{\"status\":\"ready\",\"protocol\":1,\"features\":[\"checkpoints\"]}";
    let mut input = b"Starting...\n".to_vec();
    input.extend_from_slice(ready);
    input.extend_from_slice(b"\n{\"data\":1}\n{\"Status\":\"Ready\"}\n{\"id\":2}\n");
    let (outcome, out, held) = run(&input, true);
    assert_eq!(outcome, Outcome::Eof);
    let mut expected = ready.to_vec();
    expected.extend_from_slice(b"\n{\"data\":1}\n{\"Status\":\"Ready\"}\n{\"id\":2}\n");
    assert_eq!(
        out, expected,
        "delivered: only the first line is ever a handshake"
    );
    assert_eq!(
        held,
        vec![
            (12, ready.to_vec()),
            (82, b"{\"Status\":\"Ready\"}".to_vec())
        ],
        "frames without `data` that hold a status key, in any case"
    );
}

#[test]
fn envelopes_and_a_protocol_inputs_frames_are_not_handed_out() {
    let input = b"{\"data\":{\"status\":\"ready\"},\"status\":\"ready\"}\n{\"checkpoint\":{\"status\":1}}\n";
    assert!(run(input, true).2.is_empty());
    let ready = b"{\"status\":\"ready\",\"protocol\":1}\n";
    assert!(run(ready, false).2.is_empty());
}

#[test]
fn at_most_a_few_are_held() {
    let input = b"{\"status\":\"ready\",\"protocol\":1}\n".repeat(100);
    let (_, _, held) = run(&input, true);
    assert_eq!(held.len(), dstream_core::pump::STATUS_LINE_WATCH);
}
