//! The validator never panics and agrees with serde_json (bar numbers out of f64 range
//! and nesting beyond serde_json's recursion limit, which RFC 8259 allows); its fast
//! walk never accepts what the strict walk refuses, and agrees on what it finds.
#![no_main]

use dstream_core::validate::{fast, strict, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ours = validate(data);
    if std::str::from_utf8(data).is_ok() {
        if let Some(info) = fast(data) {
            assert_eq!(Ok(info), strict(data), "{:?}", String::from_utf8_lossy(data));
        }
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
