//! `fastwalk FILE`: thread CPU time per frame of the pump's fast walk (with its memory of
//! keys, as [`dstream_core::pump`] runs it) over the lines of FILE, read into memory
//! first: the best of 7 passes. A local harness for the walk's time, which instruction
//! counts do not tell (docs/benchmarks.md, "Keys known in advance"); not part of the
//! product. Lines the fast walk refuses are skipped and counted.

use dstream_core::validate::FastWalkGate;

#[cfg(unix)]
fn cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[cfg(not(unix))]
fn cpu() -> f64 {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64()
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: fastwalk FILE (newline-delimited JSON frames)");
        std::process::exit(2);
    };
    let buf = match std::fs::read(&path) {
        Ok(buf) => buf,
        Err(e) => {
            eprintln!("fastwalk: cannot read {path}: {e}");
            std::process::exit(1);
        }
    };
    let mut gate = FastWalkGate::default();
    let (mut best, mut taken, mut refused) = (f64::MAX, 0usize, 0usize);
    for _ in 0..7 {
        (taken, refused) = (0, 0);
        let t = cpu();
        let mut i = 0;
        while i < buf.len() {
            let rest = std::hint::black_box(&buf[i..]);
            match gate.prefix(rest) {
                Some((len, info)) if rest.get(len) == Some(&b'\n') => {
                    std::hint::black_box(info);
                    taken += 1;
                    i += len + 1;
                }
                _ => {
                    refused += 1;
                    i += memchr::memchr(b'\n', rest).map_or(rest.len(), |k| k + 1);
                }
            }
        }
        best = best.min(cpu() - t);
    }
    println!(
        "{taken} frames taken, {refused} lines refused: {:.1} ns per frame (best of 7)",
        best / taken.max(1) as f64 * 1e9
    );
}
