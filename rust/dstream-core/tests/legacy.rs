//! Legacy inputs: log lines on stdout, and outputs that never acknowledge.
#![cfg(unix)]

mod common;

use common::pump;
use dstream_core::{Options, Outcome, Policy};

#[test]
fn legacy_log_lines_are_counted_and_handed_out_not_forwarded() {
    let input = b"\x1b[32m2025/10/23 [INFO] Starting\x1b[0m\n{\"data\":1}\n[MSSQL-CDC] polling\n{\"data\":2}\n";
    let opts = Options {
        legacy_logs: true,
        ..Options::default()
    };
    let (res, out, _) = pump(input, opts, b"");
    assert_eq!(res.outcome, Outcome::Eof, "{:?}", res.message);
    assert_eq!(out, b"{\"data\":1}\n{\"data\":2}\n");
    assert_eq!(res.counters.log_lines, 2);
    assert_eq!(res.counters.invalid_frames, 0);
}

#[test]
fn a_broken_frame_of_a_legacy_input_still_follows_the_policy() {
    let opts = Options {
        legacy_logs: true,
        policy: Policy::Fail,
        ..Options::default()
    };
    let (res, _, _) = pump(b"{\"data\":1}\n{\"data\":\n", opts, b"");
    assert_eq!(res.outcome, Outcome::InvalidFrame);
    assert_eq!(res.counters.log_lines, 0);
}

#[test]
fn without_legacy_logs_a_log_line_is_an_invalid_frame() {
    let (res, _, _) = pump(b"[INFO] hello\n", Options::default(), b"");
    assert_eq!(res.outcome, Outcome::InvalidFrame);
}

#[test]
fn withheld_checkpoints_are_counted_not_written() {
    let opts = Options {
        forward_checkpoints: false,
        ..Options::default()
    };
    let input = b"{\"data\":1}\n{\"checkpoint\":1}\n{\"data\":2}\n{\"checkpoint\":2}\n";
    let (res, out, cps) = pump(input, opts, b"");
    assert_eq!(res.outcome, Outcome::Eof);
    assert_eq!(out, b"{\"data\":1}\n{\"data\":2}\n");
    assert_eq!(res.counters.checkpoints_withheld, 2);
    assert_eq!(res.counters.checkpoint_frames, 0);
    assert!(cps.is_empty());
}

#[test]
fn a_legacy_log_line_over_max_frame_size_is_a_log_line_not_an_invalid_frame() {
    let mut input = b"2026/12/07 11:00:00 INFO config loaded: ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 3000 - input.len()));
    input.extend_from_slice(b"\n{\"data\":1}\n");
    let opts = Options {
        legacy_logs: true,
        policy: Policy::Fail,
        max_frame_size: 1024,
        ..Options::default()
    };
    let (res, out, _) = pump(&input, opts, b"");
    assert_eq!(res.outcome, Outcome::Eof, "{:?}", res.message);
    assert_eq!(out, b"{\"data\":1}\n");
    assert_eq!(res.counters.log_lines, 1);
    assert_eq!(res.counters.invalid_frames, 0);
}
