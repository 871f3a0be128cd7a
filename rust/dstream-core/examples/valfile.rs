//! `valfile FILE [ROUNDS]`: validates every line of FILE, ROUNDS times (local harness
//! for callgrind instruction counts per frame; not part of the product). `WALK=strict`
//! runs the strict walk alone, for an A/B against the default (fast, then strict).

use dstream_core::validate::{strict, validate_with};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("valfile FILE [ROUNDS]");
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let data = std::fs::read(path).expect("read FILE");
    let lines: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let strict_only = std::env::var("WALK").as_deref() == Ok("strict");
    let mut ok = 0usize;
    for _ in 0..rounds {
        for l in &lines {
            let l = std::hint::black_box(l);
            ok += if strict_only {
                strict(l).is_ok()
            } else {
                validate_with(l, true).is_ok()
            } as usize;
        }
    }
    eprintln!("{ok} valid of {}", lines.len() * rounds);
}
