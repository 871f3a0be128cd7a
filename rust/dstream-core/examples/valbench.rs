//! `valbench`: validator throughput on typical envelopes (local harness; reports
//! thread CPU time, since the machine may be shared and wall time lies).

#[path = "common/cpu.rs"]
mod cpu;

use cpu::cpu;
use dstream_core::validate::validate;

fn envelope(size: usize) -> Vec<u8> {
    let mut body = String::new();
    let mut i = 0;
    while body.len() + 120 < size {
        body.push_str(&format!(
            "\"col{i}\":\"value {i} with some text\",\"n{i}\":{},",
            i * 12345
        ));
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
    let long = format!("{{\"data\":\"{}\"}}", "x".repeat(65536)).into_bytes();
    for size in [200usize, 1000, 4096, 65536, 0] {
        let frame = if size == 0 {
            long.clone()
        } else {
            envelope(size)
        };
        assert!(
            validate(&frame).is_ok(),
            "{}",
            String::from_utf8_lossy(&frame)
        );
        let total: usize = std::env::args()
            .nth(1)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1_000_000_000);
        let n = total / frame.len();
        let t = cpu();
        let mut ok = 0;
        for _ in 0..n {
            ok += validate(std::hint::black_box(&frame)).is_ok() as usize;
        }
        let dt = cpu() - t;
        let t = cpu();
        for _ in 0..n {
            ok += serde_json::from_slice::<serde::de::IgnoredAny>(std::hint::black_box(&frame))
                .is_ok() as usize;
        }
        let dt_serde = cpu() - t;
        eprintln!(
            "frame {:>6} B: {:.2} GB/s, {:.2} M frames/s (serde_json IgnoredAny: {:.2} GB/s) ({ok})",
            frame.len(),
            (n * frame.len()) as f64 / dt / 1e9,
            n as f64 / dt / 1e6,
            (n * frame.len()) as f64 / dt_serde / 1e9,
        );
    }
}
