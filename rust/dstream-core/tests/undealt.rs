//! A run that ends before its input's EOF says what it never dealt with of the input:
//! `PumpResult::undealt` and `peeked` with the input pipe's fill level (FIONREAD) give
//! exactly the bytes written after the last one forwarded, skipped or reported as the
//! invalid frame that failed the run, whether the pump copies, peeks (zero-copy) or
//! validates in batches on several threads. Zero-copy once left the invalid frame and
//! what followed it in the pipe, peeked, so a reader of the pipe counted the frame as
//! never read; copying left what followed it in the pump's buffer, not counted at all.
#![cfg(target_os = "linux")]

mod common;

use common::pipe;
use dstream_core::{Options, Policy, Pump, PumpResult};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::Duration;

/// Delivered (28 bytes), then the invalid frame (11 bytes), then 28 bytes never read.
const BEFORE: &[u8] = b"{\"data\":1}\n{\"checkpoint\":1}\n";
const INVALID: &[u8] = b"{\"data\":1,\n";
const AFTER: &[u8] = b"{\"data\":2}\n{\"checkpoint\":2}\n";

fn modes() -> Vec<(&'static str, Options)> {
    let base = Options {
        policy: Policy::Fail,
        pipe_size: 0, // the pipes keep the sizes the tests give them
        ..Options::default()
    };
    vec![
        (
            "copy",
            Options {
                zero_copy: false,
                ..base.clone()
            },
        ),
        ("zero-copy", base.clone()),
        (
            "threads",
            Options {
                validate_threads: 2,
                ..base
            },
        ),
    ]
}

/// Bytes the pipe read by `r` holds.
fn fill_level(r: &File) -> u64 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD on an open pipe fd writes one c_int.
    assert_eq!(
        unsafe { libc::ioctl(r.as_raw_fd(), libc::FIONREAD, &mut n) },
        0
    );
    n as u64
}

/// What the input wrote and the run never dealt with, as the runtime tells it.
fn never_read(res: &PumpResult, input: &File) -> u64 {
    fill_level(input) - res.peeked + res.undealt
}

/// One run of `data` (in the input pipe before it starts, the write end kept open) to an
/// output pipe of `output_size` bytes that nothing reads until the run ended (or that is
/// closed when `closed`); `stop_after`: stopped that long after it started.
fn run(
    data: &[u8],
    opts: Options,
    output_size: libc::c_int,
    closed: bool,
    stop_after: Option<Duration>,
) -> (PumpResult, u64, Vec<u8>) {
    let (ir, mut iw) = pipe();
    let (or, ow) = pipe();
    // SAFETY: F_SETPIPE_SZ on an open pipe fd.
    assert!(unsafe { libc::fcntl(ow.as_raw_fd(), libc::F_SETPIPE_SZ, output_size) } >= 0);
    iw.write_all(data).unwrap();
    let mut or = (!closed).then_some(or);
    let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, b"").unwrap();
    let stopper = stop_after.map(|after| {
        let h = p.handle();
        thread::spawn(move || {
            thread::sleep(after);
            h.stop();
        })
    });
    let res = p.run();
    if let Some(s) = stopper {
        s.join().unwrap();
    }
    let unread = never_read(&res, &ir);
    drop(ow);
    let mut output = Vec::new();
    if let Some(or) = or.as_mut() {
        or.read_to_end(&mut output).unwrap();
    }
    drop(iw);
    (res, unread, output)
}

#[test]
fn an_invalid_frame_that_fails_the_run_was_dealt_with() {
    let data = [BEFORE, INVALID, AFTER].concat();
    for (mode, opts) in modes() {
        let (res, unread, output) = run(&data, opts, 1 << 16, false, None);
        assert_eq!(res.outcome.as_str(), "invalid_frame", "{mode}");
        assert_eq!(output, BEFORE, "{mode}");
        assert_eq!(unread, AFTER.len() as u64, "{mode}: {res:?}");
    }
}

#[test]
fn an_invalid_frame_then_a_closed_output_delivered_nothing() {
    let data = [BEFORE, INVALID, AFTER].concat();
    for (mode, opts) in modes() {
        let (res, unread, _) = run(&data, opts, 1 << 16, true, None);
        assert_eq!(res.outcome.as_str(), "output_closed", "{mode}");
        assert_eq!(unread, data.len() as u64, "{mode}: {res:?}");
    }
}

/// Stopped while the output (one page) is full: every byte of the input is either in
/// the output or never read, the frame cut by the last write included.
#[test]
fn a_stop_leaves_what_the_output_did_not_take() {
    let line = format!("{{\"data\":\"{}\"}}\n", "x".repeat(88));
    let data = line.repeat(400).into_bytes();
    for (mode, opts) in modes() {
        let (res, unread, output) = run(&data, opts, 4096, false, Some(Duration::from_millis(200)));
        assert_eq!(res.outcome.as_str(), "stopped", "{mode}");
        assert!(
            !output.is_empty() && output.len() < data.len(),
            "{mode}: {res:?}"
        );
        assert_eq!(output, data[..output.len()], "{mode}");
        assert_eq!(
            output.len() as u64 + unread,
            data.len() as u64,
            "{mode}: {res:?}"
        );
    }
}
