//! The pump's thread runs under SCHED_BATCH while it pumps (Linux) and gets its own
//! policy back when the run ends.
#![cfg(target_os = "linux")]

mod common;

use common::{drain, pipe};
use dstream_core::sys::BatchScheduling;
use dstream_core::{Options, Outcome, Pump};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Policy of thread `tid` seen from another thread.
fn policy_of(tid: libc::pid_t) -> libc::c_int {
    // SAFETY: sched_getscheduler only reads the policy of an existing thread.
    unsafe { libc::sched_getscheduler(tid) }
}

/// Starts a pump in its own thread on an input kept open; returns the thread's id, the
/// input's write end and the join handle (the thread's policy after the run).
fn pumping(batch: bool) -> (libc::pid_t, std::fs::File, std::thread::JoinHandle<i32>) {
    let (ir, iw) = pipe();
    let (or, ow) = pipe();
    let out = drain(or);
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        // SAFETY: gettid has no arguments.
        tx.send(unsafe { libc::syscall(libc::SYS_gettid) } as libc::pid_t)
            .unwrap();
        let opts = Options {
            batch_scheduling: batch,
            ..Options::default()
        };
        let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, b"").unwrap();
        let r = p.run();
        assert_eq!(r.outcome, Outcome::Eof, "{:?}", r.message);
        drop(ow);
        out.join().unwrap();
        BatchScheduling::current_policy()
    });
    (rx.recv().unwrap(), iw, t)
}

#[test]
fn the_pump_thread_is_batch_scheduled_for_the_run_only() {
    let (tid, mut iw, t) = pumping(true);
    iw.write_all(b"{\"data\":1}\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while policy_of(tid) != libc::SCHED_BATCH {
        assert!(
            Instant::now() < deadline,
            "never SCHED_BATCH: {}",
            policy_of(tid)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(iw);
    assert_eq!(t.join().unwrap(), libc::SCHED_OTHER);
}

#[test]
fn batch_scheduling_can_be_turned_off() {
    let (tid, mut iw, t) = pumping(false);
    iw.write_all(b"{\"data\":1}\n").unwrap();
    // the run has started once the frame is through; the policy never changed
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(policy_of(tid), libc::SCHED_OTHER);
    drop(iw);
    assert_eq!(t.join().unwrap(), libc::SCHED_OTHER);
}
