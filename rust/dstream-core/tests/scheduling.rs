//! The pump's thread runs under SCHED_BATCH while it pumps (Linux) and gets its own
//! policy back when the run ends.
#![cfg(target_os = "linux")]

mod common;

use common::pipe;
use dstream_core::{Options, Outcome, Pump};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::mpsc;

/// Policy of thread `tid` (0: the calling thread).
fn policy_of(tid: libc::pid_t) -> libc::c_int {
    // SAFETY: sched_getscheduler only reads the policy of an existing thread.
    unsafe { libc::sched_getscheduler(tid) }
}

/// The policy of a pump's thread while it runs (seen from outside, once a frame has
/// come through, so the run has surely started) and after its run ended.
fn policies(batch_scheduling: bool) -> (libc::c_int, libc::c_int) {
    let (ir, mut iw) = pipe();
    let (mut or, ow) = pipe();
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        // SAFETY: gettid has no arguments.
        tx.send(unsafe { libc::syscall(libc::SYS_gettid) } as libc::pid_t)
            .unwrap();
        let opts = Options {
            batch_scheduling,
            ..Options::default()
        };
        let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, b"").unwrap();
        let r = p.run();
        assert_eq!(r.outcome, Outcome::Eof, "{:?}", r.message);
        policy_of(0)
    });
    let tid = rx.recv().unwrap();
    let frame = b"{\"data\":1}\n";
    iw.write_all(frame).unwrap();
    let mut got = [0u8; 11];
    or.read_exact(&mut got).unwrap();
    assert_eq!(&got, frame);
    let during = policy_of(tid);
    drop(iw);
    (during, t.join().unwrap())
}

#[test]
fn the_pump_thread_is_batch_scheduled_for_the_run_only() {
    assert_eq!(policies(true), (libc::SCHED_BATCH, libc::SCHED_OTHER));
}

#[test]
fn batch_scheduling_can_be_turned_off() {
    assert_eq!(policies(false), (libc::SCHED_OTHER, libc::SCHED_OTHER));
}
