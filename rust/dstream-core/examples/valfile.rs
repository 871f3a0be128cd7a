//! `valfile FILE [ROUNDS]`: validates every line of FILE, ROUNDS times over (1 unless
//! told), and prints the thread CPU time per line of the fastest round. A local
//! harness, not part of the product: for callgrind instruction counts per frame (run it
//! on 10 k and 20 k lines: the difference is the per-frame cost) and for the time of a
//! walk, which instruction counts do not tell (docs/benchmarks.md). `WALK` picks the
//! walk:
//! - unset: `validate_with`, the fast walk, then the strict one for what it refuses;
//! - `strict`: the strict walk alone, for an A/B against the default;
//! - `pump`: the fast walk as the pump runs it (`FastWalkGate::prefix`, with its memory
//!   of the last frame's keys) over the file's bytes, each frame's end found by the
//!   walk; lines it refuses are counted, not validated.

#[path = "common/cpu.rs"]
mod cpu;

use cpu::cpu;
use dstream_core::validate::{strict, validate_with, FastWalkGate};
use std::process::exit;

#[derive(Clone, Copy, PartialEq)]
enum Walk {
    Validate,
    Strict,
    Pump,
}

const USAGE: &str = "usage: [WALK=strict|pump] valfile FILE [ROUNDS] (newline-delimited JSON frames; ROUNDS a whole number from 1)";

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        fail(2, USAGE)
    };
    let rounds: usize = match args.next() {
        None => 1,
        Some(a) => a
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| fail(2, USAGE)),
    };
    let walk = match std::env::var("WALK").as_deref() {
        Err(_) => Walk::Validate,
        Ok("strict") => Walk::Strict,
        Ok("pump") => Walk::Pump,
        Ok(other) => fail(
            2,
            &format!("valfile: WALK={other:?} is no walk: set strict or pump, or unset it"),
        ),
    };
    let data = std::fs::read(&path)
        .unwrap_or_else(|e| fail(1, &format!("valfile: cannot read {path}: {e}")));
    let lines: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let (mut best, mut taken, mut walked) = (f64::MAX, 0, 0);
    for _ in 0..rounds {
        let t = cpu();
        (taken, walked) = match walk {
            Walk::Pump => pump_walk(&data),
            _ => (each_line(&lines, walk), lines.len()),
        };
        best = best.min(cpu() - t);
    }
    let what = if walk == Walk::Pump {
        "taken by the fast walk"
    } else {
        "valid"
    };
    println!(
        "{taken} of {walked} lines {what}: {:.1} ns per line (the fastest of {rounds} rounds)",
        best / walked.max(1) as f64 * 1e9
    );
}

/// How many of `lines` `walk` accepts.
fn each_line(lines: &[&[u8]], walk: Walk) -> usize {
    let mut ok = 0;
    for l in lines {
        let l = std::hint::black_box(l);
        ok += if walk == Walk::Strict {
            strict(l).is_ok()
        } else {
            validate_with(l, true).is_ok()
        } as usize;
    }
    ok
}

/// The pump's fast walk over `buf`, its gate (and memory) carried from line to line:
/// the lines it takes, and the lines.
fn pump_walk(buf: &[u8]) -> (usize, usize) {
    let mut gate = FastWalkGate::default();
    let (mut taken, mut refused, mut i) = (0, 0, 0);
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
    (taken, taken + refused)
}

fn fail(code: i32, message: &str) -> ! {
    eprintln!("{message}");
    exit(code)
}
