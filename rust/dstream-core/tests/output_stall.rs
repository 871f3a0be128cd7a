//! How long a pump has waited on an output that reads nothing (Handle::output_stalled_for,
//! shown by dstream's progress line and metrics), over real OS pipes: none while the
//! output takes what it is given, growing while its pipe stays full, none again once it
//! reads, and none after the run.
#![cfg(unix)]

mod common;

use common::{drain, feeder, pipe, transfer_modes};
use dstream_core::{Handle, Outcome, Pump};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

fn lines(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| format!("{{\"data\":{{\"i\":{i}}}}}\n").into_bytes())
        .collect()
}

/// `check`'s first true answer, polled for up to 30 s.
fn until(what: &str, check: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < end, "gave up waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_stall_on_the_output_is_measured_while_it_lasts() {
    for (mode, opts) in transfer_modes() {
        let (ir, iw) = pipe();
        let (or, ow) = pipe();
        let input = lines(400_000);
        let f = feeder(iw, input.clone());
        let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, b"").unwrap();
        let h: Handle = p.handle();
        assert_eq!(h.output_stalled_for(), None, "{mode}: before the run");
        let run = thread::spawn(move || p.run());
        // nothing reads the output: its pipe fills up and the pump waits on it
        until("the stall", || h.output_stalled_for().is_some());
        let first = h.output_stalled_for().unwrap();
        thread::sleep(Duration::from_millis(300));
        let later = h.output_stalled_for().expect("the stall goes on");
        assert!(
            later >= first + Duration::from_millis(300),
            "{mode}: {first:?} {later:?}"
        );
        // the output reads again: the stall ends (a later one is measured from its start)
        let d = drain(or);
        until("the end of the stall", || {
            h.output_stalled_for()
                .is_none_or(|s| s < Duration::from_millis(300))
        });
        let res = run.join().unwrap();
        drop(ow);
        assert_eq!(res.outcome, Outcome::Eof, "{mode}: {res:?}");
        assert_eq!(h.output_stalled_for(), None, "{mode}: after the run");
        assert_eq!(d.join().unwrap(), input, "{mode}");
        f.join().unwrap();
    }
}
