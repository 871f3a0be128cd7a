//! A pump's deadline (Handle::set_deadline, a lease's local deadline in dstream) over
//! real OS pipes: past it nothing more is forwarded, whatever the input holds, and a
//! deadline moved on before it passed lets the stream go on.
#![cfg(unix)]

mod common;

use common::{drain, feeder, pipe, transfer_modes};
use dstream_core::sys::monotonic;
use dstream_core::{Handle, Outcome, Pump, PumpResult};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::thread;
use std::time::Duration;

/// Stops the pump after `secs` unless it ended first: a pump that ignores its deadline
/// then ends "stopped", and the test fails on that instead of hanging.
fn safety_stop(h: Handle, secs: u64) {
    thread::spawn(move || {
        thread::sleep(Duration::from_secs(secs));
        h.stop();
    });
}

fn lines(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| format!("{{\"data\":{{\"i\":{i}}}}}\n").into_bytes())
        .collect()
}

#[test]
fn a_deadline_already_passed_forwards_nothing_the_input_holds() {
    // The input wrote while its holder was paused: its pipe is full of frames, the
    // write end still open (the input runs on). Past the deadline none of them goes out.
    for past in [
        Duration::ZERO,
        monotonic().saturating_sub(Duration::from_millis(1)),
    ] {
        for (mode, opts) in transfer_modes() {
            let (ir, mut iw) = pipe();
            let (or, ow) = pipe();
            iw.write_all(&lines(500)).unwrap();
            let d = drain(or);
            let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, b"").unwrap();
            p.handle().set_deadline(Some(past));
            safety_stop(p.handle(), 30);
            let res = p.run();
            drop(ow);
            assert_eq!(res.outcome, Outcome::DeadlinePassed, "{mode}: {res:?}");
            assert_eq!(res.counters.frames, 0, "{mode}");
            assert_eq!(res.counters.bytes, 0, "{mode}");
            assert!(d.join().unwrap().is_empty(), "{mode}");
            drop(iw);
        }
    }
}

/// Runs `p` on a thread of its own.
fn spawn(mut p: Pump) -> thread::JoinHandle<PumpResult> {
    thread::spawn(move || p.run())
}

/// Waits until the pump has forwarded `bytes` bytes.
fn forwarded(h: &Handle, bytes: u64) {
    for _ in 0..3000 {
        if h.counters().bytes >= bytes {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("the pump never forwarded {bytes} bytes");
}

#[test]
fn a_deadline_moved_on_before_it_passed_lets_the_stream_go_on() {
    let first = b"{\"data\":1}\n";
    let second = b"{\"data\":2}\n";
    for (mode, opts) in transfer_modes() {
        let (ir, mut iw) = pipe();
        let (or, ow) = pipe();
        let d = drain(or);
        let p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, b"").unwrap();
        let h = p.handle();
        let soon = monotonic() + Duration::from_secs(2);
        h.set_deadline(Some(soon));
        safety_stop(h.clone(), 60);
        let run = spawn(p);
        iw.write_all(first).unwrap();
        forwarded(&h, first.len() as u64);
        h.set_deadline(Some(monotonic() + Duration::from_secs(3600))); // renewed
        while monotonic() <= soon {
            thread::sleep(Duration::from_millis(50));
        }
        iw.write_all(second).unwrap(); // after the first deadline: still forwarded
        drop(iw);
        let res = run.join().unwrap();
        drop(ow);
        assert_eq!(res.outcome, Outcome::Eof, "{mode}: {res:?}");
        assert_eq!(
            d.join().unwrap(),
            [&first[..], &second[..]].concat(),
            "{mode}"
        );
    }
}

#[test]
fn a_deadline_that_passes_wakes_a_pump_waiting_on_an_idle_input() {
    for (mode, opts) in transfer_modes() {
        let (ir, mut iw) = pipe();
        let (or, ow) = pipe();
        let d = drain(or);
        let p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, b"").unwrap();
        let h = p.handle();
        safety_stop(h.clone(), 30);
        let run = spawn(p);
        iw.write_all(b"{\"data\":1}\n").unwrap();
        forwarded(&h, 11); // then it waits on the idle input, without a timeout
        h.set_deadline(Some(monotonic() + Duration::from_millis(200)));
        let res = run.join().unwrap();
        drop(ow);
        assert_eq!(res.outcome, Outcome::DeadlinePassed, "{mode}: {res:?}");
        assert_eq!(d.join().unwrap(), b"{\"data\":1}\n", "{mode}");
        drop(iw);
    }
}

#[test]
fn a_deadline_set_in_the_past_wakes_a_pump_blocked_on_a_full_output() {
    // Nothing reads the output: the pump waits for room, and the deadline ends the wait.
    for (mode, opts) in transfer_modes() {
        let (ir, iw) = pipe();
        let (or, ow) = pipe();
        let input = lines(400_000);
        let f = feeder(iw, input.clone());
        let p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, b"").unwrap();
        let h = p.handle();
        safety_stop(h.clone(), 30);
        let run = spawn(p);
        forwarded(&h, 1);
        let mut last = u64::MAX; // until the output pipe is full
        while h.counters().bytes != last {
            last = h.counters().bytes;
            thread::sleep(Duration::from_millis(100));
        }
        h.set_deadline(Some(monotonic()));
        let res = run.join().unwrap();
        drop(ow);
        assert_eq!(res.outcome, Outcome::DeadlinePassed, "{mode}: {res:?}");
        // the batches counted, and the one it was writing when its pipe filled up
        let out = drain(or).join().unwrap();
        assert!(out.len() as u64 >= res.counters.bytes, "{mode}");
        assert!(input.starts_with(&out), "{mode}");
        drop(ir);
        f.join().unwrap();
    }
}
