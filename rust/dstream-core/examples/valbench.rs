//! `valbench`: validator throughput on typical envelopes (local harness).

use dstream_core::validate::validate;
use std::time::Instant;

fn envelope(size: usize) -> Vec<u8> {
    let mut body = String::new();
    let mut i = 0;
    while body.len() + 120 < size {
        body.push_str(&format!("\"col{i}\":\"value {i} with some text\",\"n{i}\":{},", i * 12345));
        i += 1;
    }
    let pad = size.saturating_sub(body.len() + 110);
    let s = format!(
        "{{\"data\":{{{body}\"pad\":\"{}\"}},\"metadata\":{{\"TableName\":\"users\",\"OperationType\":\"Insert\",\"LSN\":\"0/16B3748\"}}}}",
        "p".repeat(pad)
    );
    s.into_bytes()
}

fn main() {
    for size in [200usize, 1000, 4096, 65536] {
        let frame = envelope(size);
        assert!(validate(&frame).is_ok(), "{}", String::from_utf8_lossy(&frame));
        let total: usize = 2_000_000_000;
        let n = total / frame.len();
        let t = Instant::now();
        let mut ok = 0;
        for _ in 0..n {
            ok += validate(std::hint::black_box(&frame)).is_ok() as usize;
        }
        let dt = t.elapsed().as_secs_f64();
        eprintln!(
            "frame {:>6} B: {:.2} GB/s, {:.1} M frames/s ({ok})",
            frame.len(),
            (n * frame.len()) as f64 / dt / 1e9,
            n as f64 / dt / 1e6
        );
    }
}
