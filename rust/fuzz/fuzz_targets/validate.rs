//! The validator never panics and agrees with serde_json (bar numbers out of f64 range
//! and nesting beyond serde_json's recursion limit, which RFC 8259 allows); its fast
//! walk never accepts what the strict walk refuses, and agrees on what it finds. The
//! input's lines are also walked one after the other through one `FastWalkGate`, as the
//! pump walks an input's frames: what it takes of each is what the walk without memory
//! of the frames before takes, and that is what the strict walk finds.
#![no_main]

use dstream_core::validate::{fast, fast_prefix, strict, validate, FastWalkGate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ours = validate(data);
    if std::str::from_utf8(data).is_ok() {
        if let Some(info) = fast(data) {
            assert_eq!(Ok(info), strict(data), "{:?}", String::from_utf8_lossy(data));
        }
        lines_through_one_gate(data);
    }
    let theirs = serde_json::from_slice::<serde_json::Value>(data);
    match theirs {
        Ok(v) => assert_eq!(ours.is_ok(), v.is_object(), "{:?}", String::from_utf8_lossy(data)),
        Err(e) => {
            let m = e.to_string();
            if !m.contains("number out of range") && !m.contains("recursion limit") {
                assert!(ours.is_err(), "accepted {:?}: serde_json says {m}", String::from_utf8_lossy(data));
            }
        }
    }
});

/// Each line of `data` (valid UTF-8) from its start to the end of the input, as the pump
/// hands the walk the bytes after a frame too.
fn lines_through_one_gate(data: &[u8]) {
    let mut gate = FastWalkGate::default();
    let mut start = 0;
    while start <= data.len() {
        let rest = &data[start..];
        let got = gate.prefix(rest);
        assert_eq!(got, fast_prefix(rest), "{:?}", String::from_utf8_lossy(rest));
        if let Some((len, info)) = got {
            let taken = &rest[..len];
            assert!(!taken.contains(&b'\n'), "{:?}", String::from_utf8_lossy(rest));
            assert_eq!(strict(taken), Ok(info), "{:?}", String::from_utf8_lossy(rest));
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(k) => start += k + 1,
            None => break,
        }
    }
}
