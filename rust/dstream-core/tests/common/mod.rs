//! Helpers shared by the integration tests: real OS pipes with threads on both ends.
#![allow(dead_code)] // each test crate uses its own subset

use dstream_core::{Options, Pump, PumpResult};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::thread;

pub fn pipe() -> (File, File) {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid array for pipe(2); the two new fds are owned by the Files.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both fds were just created and are owned by nothing else.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// Writes `data` in chunks of varying size, then closes.
pub fn feeder(w: File, data: Vec<u8>) -> thread::JoinHandle<()> {
    feeder_seeded(w, data, 1)
}

/// [`feeder`] with another sequence of chunk sizes per `seed`.
pub fn feeder_seeded(mut w: File, data: Vec<u8>, seed: usize) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut i = 0;
        let mut k = seed;
        while i < data.len() {
            k = (k * 7 + 3) % 9000 + 1;
            let j = (i + k).min(data.len());
            if w.write_all(&data[i..j]).is_err() {
                return;
            }
            i = j;
        }
    })
}

pub fn drain(mut r: File) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        v
    })
}

/// What one pump run over pipes gave.
pub struct Run {
    pub result: PumpResult,
    pub output: Vec<u8>,
    pub checkpoints: Vec<Vec<u8>>,
    /// The pump forwarded with tee(2)/splice(2).
    pub zero_copy: bool,
}

/// Runs a pump over pipes: returns (result, output bytes, checkpoints).
pub fn pump(input: &[u8], opts: Options, prefix: &[u8]) -> (PumpResult, Vec<u8>, Vec<Vec<u8>>) {
    let r = pump_seeded(input, opts, prefix, 1);
    (r.result, r.output, r.checkpoints)
}

/// [`pump`], the input written in chunks chosen by `seed`.
pub fn pump_seeded(input: &[u8], opts: Options, prefix: &[u8], seed: usize) -> Run {
    let (ir, iw) = pipe();
    let (or, ow) = pipe();
    let f = feeder_seeded(iw, input.to_vec(), seed);
    let d = drain(or);
    let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, prefix).unwrap();
    let h = p.handle();
    let result = p.run();
    let zero_copy = p.zero_copy_active();
    drop(ow);
    drop(ir);
    f.join().unwrap();
    Run {
        result,
        output: d.join().unwrap(),
        checkpoints: h.take_checkpoints(),
        zero_copy,
    }
}

/// The three ways bytes cross: read/write, tee/splice (zero-copy), splice (passthrough).
pub fn transfer_modes() -> Vec<(&'static str, Options)> {
    vec![
        (
            "copy",
            Options {
                zero_copy: false,
                ..Options::default()
            },
        ),
        ("zero-copy", Options::default()),
        (
            "passthrough",
            Options {
                validate: false,
                ..Options::default()
            },
        ),
    ]
}
