//! The pump over real OS pipes, with threads on both ends.
#![cfg(unix)]

mod common;

use common::{drain, feeder, pipe, pump, transfer_modes};
use dstream_core::pump::Torn;
use dstream_core::{Options, Outcome, Policy, Pump};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

fn frames(n: usize) -> (Vec<u8>, Vec<u8>) {
    let mut input = Vec::new();
    let mut want = Vec::new();
    for i in 0..n {
        let line = if i % 10 == 9 {
            format!("{{\"checkpoint\":{{\"n\":{i}}}}}")
        } else {
            format!("{{\"data\":{{\"i\":{i},\"s\":\"x\\\"y\"}},\"metadata\":{{\"TableName\":\"t{}\"}}}}", i % 3)
        };
        input.extend_from_slice(line.as_bytes());
        input.extend_from_slice(if i % 7 == 0 { b"\r\n" } else { b"\n" });
        if i % 11 == 0 {
            input.extend_from_slice(b"\n  \n");
        }
        want.extend_from_slice(line.as_bytes());
        want.push(b'\n');
    }
    (input, want)
}

#[test]
fn forwards_in_order_with_checkpoints_and_tables() {
    let (input, want) = frames(20_000);
    let opts = Options {
        read_buffer_size: 4096,
        ..Options::default()
    };
    let (res, out, cps) = pump(&input, opts, b"");
    assert_eq!(res.outcome, Outcome::Eof, "{:?}", res.message);
    assert_eq!(out, want);
    let c = &res.counters;
    assert_eq!(c.frames, 20_000);
    assert_eq!(c.checkpoint_frames, 2_000);
    assert_eq!(c.data_frames, 18_000);
    assert_eq!(c.bytes, want.len() as u64);
    assert_eq!(c.bytes_read, input.len() as u64);
    assert_eq!(c.invalid_frames, 0);
    assert_eq!(c.tables.iter().map(|t| t.1).sum::<u64>(), 18_000);
    assert_eq!(c.tables[0].0, "t0");
    assert_eq!(cps.len(), 2_000);
    // the value's own bytes: a checkpoint is opaque
    assert_eq!(cps[0], b"{\"n\":9}");
    assert_eq!(cps[1999], b"{\"n\":19999}");
}

#[test]
fn prefix_and_final_frame_without_newline() {
    let (res, out, _) = pump(b"2}\n{\"c\":3}", Options::default(), b"{\"a\":1}\n{\"b\":");
    assert_eq!(res.outcome, Outcome::Eof);
    assert_eq!(out, b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
    assert_eq!(res.counters.bytes_read, 23);
}

#[test]
fn empty_input() {
    let (res, out, _) = pump(b"", Options::default(), b"");
    assert_eq!(res.outcome, Outcome::Eof);
    assert!(out.is_empty());
    assert_eq!(res.counters.frames, 0);
}

#[test]
fn fail_policy_writes_everything_before() {
    let mut input = Vec::new();
    for i in 0..1000 {
        input.extend_from_slice(format!("{{\"data\":{i}}}\n").as_bytes());
    }
    let bad_at = input.len() as u64;
    input.extend_from_slice(b"{\"data\":1,\"b\":2 \"c\":3}\n{\"data\":\"after\"}\n");
    let opts = Options {
        start_offset: 1000,
        read_buffer_size: 100,
        ..Options::default()
    };
    let (res, out, _) = pump(&input, opts, b"");
    assert_eq!(res.outcome, Outcome::InvalidFrame);
    assert_eq!(
        res.message.as_deref(),
        Some("frame is not valid JSON: expected ',' or '}' at byte 16 of the frame")
    );
    assert_eq!(res.offset, Some(1000 + bad_at));
    assert!(
        !res.oversized,
        "a frame that is no JSON is not one too long"
    );
    assert_eq!(
        res.excerpt.as_deref(),
        Some(&b"{\"data\":1,\"b\":2 \"c\":3}"[..])
    );
    assert_eq!(out, &input[..bad_at as usize]);
    assert_eq!(res.counters.frames, 1000);
    assert_eq!(res.counters.invalid_frames, 1);
}

#[test]
fn oversized_fail_skip_dead_letter() {
    let max = 1000;
    let big = format!("{{\"data\":\"{}\"}}", "x".repeat(5000));
    let input = format!("{{\"a\":1}}\n{big}\n{{\"b\":2}}\n");
    let opts = |policy, dl| Options {
        max_frame_size: max,
        read_buffer_size: 64,
        policy,
        dead_letter_path: dl,
        task: "t1".into(),
        ..Options::default()
    };
    let (res, out, _) = pump(input.as_bytes(), opts(Policy::Fail, None), b"");
    assert_eq!(res.outcome, Outcome::InvalidFrame);
    assert_eq!(
        res.message.as_deref(),
        Some("frame of 4.9 KiB exceeds max_frame_size 1000 B")
    );
    assert!(res.oversized);
    assert_eq!(res.offset, Some(8));
    assert_eq!(res.excerpt.as_ref().unwrap().len(), 120);
    assert_eq!(out, b"{\"a\":1}\n");

    let (res, out, _) = pump(input.as_bytes(), opts(Policy::Skip, None), b"");
    assert_eq!(res.outcome, Outcome::Eof);
    assert_eq!(out, b"{\"a\":1}\n{\"b\":2}\n");
    assert_eq!((res.counters.skipped, res.counters.invalid_frames), (1, 1));

    let path = std::env::temp_dir().join(format!("dstream-pump-dl-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let input2 = format!("{input}[1]\n{{\"bad\":\"\u{e9}\u{1}\"}}\n\u{0}\n");
    let mut input2 = input2.into_bytes();
    input2.extend_from_slice(b"{\"x\":\"\xff\"}\n");
    let (res, out, _) = pump(&input2, opts(Policy::DeadLetter, Some(path.clone())), b"");
    assert_eq!(res.outcome, Outcome::Eof, "{:?}", res.message);
    assert_eq!(out, b"{\"a\":1}\n{\"b\":2}\n");
    assert_eq!(res.counters.dead_lettered, 5);
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let recs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 5);
    assert_eq!(recs[0]["task"], "t1");
    assert_eq!(recs[0]["offset"], 8);
    assert_eq!(recs[0]["length"], big.len());
    assert_eq!(recs[0]["reason"], "frame exceeds max_frame_size 1000 B");
    assert!(recs[0]["raw"].as_str().unwrap().starts_with("{\"data\":\""));
    assert_eq!(recs[1]["raw"], "[1]");
    assert_eq!(recs[1]["reason"], "frame is a JSON array, not an object");
    assert_eq!(recs[2]["raw"], "{\"bad\":\"\u{e9}\u{1}\"}");
    assert_eq!(recs[3]["raw"], "\u{0}");
    assert_eq!(recs[4]["raw_base64"], "eyJ4Ijoi/yJ9");
}

#[test]
fn stop_while_blocked_on_idle_input() {
    let (ir, _iw) = pipe();
    let (_or, ow) = pipe();
    let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), Options::default(), b"").unwrap();
    let h = p.handle();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        h.stop();
    });
    let t0 = Instant::now();
    let res = p.run();
    assert_eq!(res.outcome, Outcome::Stopped);
    assert!(t0.elapsed() < Duration::from_secs(2));
    t.join().unwrap();
}

#[test]
fn stop_while_blocked_on_stalled_output() {
    let (ir, iw) = pipe();
    let (_or, ow) = pipe(); // nobody reads
    let data = b"{\"data\":1}\n".repeat(100_000);
    let f = feeder(iw, data);
    let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), Options::default(), b"").unwrap();
    let h = p.handle();
    let h2 = h.clone();
    let t = thread::spawn(move || {
        // wait until the pump is stuck on the full output pipe
        let mut last = u64::MAX;
        let t0 = Instant::now();
        loop {
            thread::sleep(Duration::from_millis(50));
            let c = h2.counters().bytes_read;
            if c == last && c > 0 {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "bytes_read never published"
            );
            last = c;
        }
        h2.stop();
    });
    let res = p.run();
    assert_eq!(res.outcome, Outcome::Stopped);
    t.join().unwrap();
    drop(ir);
    f.join().unwrap();
    let _ = h;
}

#[test]
fn slow_reader_bounds_memory_and_counters_are_live() {
    let (ir, iw) = pipe();
    let (mut or, ow) = pipe();
    let line = format!("{{\"data\":\"{}\"}}\n", "y".repeat(200));
    let n = 40_000;
    let data = line.repeat(n).into_bytes();
    let total = data.len() as u64;
    let f = feeder(iw, data);
    let opts = Options {
        read_buffer_size: 1 << 16,
        max_frame_size: 1 << 16,
        ..Options::default()
    };
    let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, b"").unwrap();
    let h = p.handle();
    let received = Arc::new(AtomicU64::new(0));
    let rcv = received.clone();
    let max_gap = Arc::new(AtomicU64::new(0));
    let gap = max_gap.clone();
    let reader = thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        let mut seen_live = false;
        loop {
            let k = or.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            let r = rcv.fetch_add(k as u64, Ordering::SeqCst) + k as u64;
            let c = h.counters();
            if c.frames > 0 && c.bytes_read < total {
                seen_live = true;
            }
            // what the pump has taken in but the reader has not seen yet
            let g = c.bytes_read.saturating_sub(r);
            gap.fetch_max(g, Ordering::SeqCst);
            thread::sleep(Duration::from_micros(200));
        }
        seen_live
    });
    let res = p.run();
    drop(ow);
    let seen_live = reader.join().unwrap();
    f.join().unwrap();
    assert_eq!(res.outcome, Outcome::Eof);
    assert_eq!(received.load(Ordering::SeqCst), total);
    assert!(seen_live, "counters were not visible while running");
    // read buffer + max frame + output pipe capacity (grown to pipe_size, 1 MiB, on
    // Linux; 64 KiB or less elsewhere); the input is 8.6 MB
    let bound = (3 << 16) + dstream_core::pump::DEFAULT_PIPE_SIZE as u64;
    assert!(
        max_gap.load(Ordering::SeqCst) <= bound,
        "gap {} > {bound}",
        max_gap.load(Ordering::SeqCst)
    );
}

#[test]
fn output_closed() {
    let (ir, iw) = pipe();
    let (or, ow) = pipe();
    drop(or);
    let f = feeder(iw, b"{\"data\":1}\n".repeat(10));
    let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), Options::default(), b"").unwrap();
    let res = p.run();
    assert_eq!(res.outcome, Outcome::OutputClosed);
    assert!(res.message.unwrap().contains("EPIPE"));
    drop(ir);
    f.join().unwrap();
}

#[test]
fn passthrough_pipes_and_files() {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let opts = Options {
        validate: false,
        ..Options::default()
    };
    let (res, out, _) = pump(&data[10..], opts.clone(), &data[..10]);
    assert_eq!(res.outcome, Outcome::Eof);
    assert_eq!(out, data);
    assert_eq!(res.counters.bytes, data.len() as u64);
    assert_eq!(res.counters.bytes_read, data.len() as u64);
    assert_eq!(res.counters.frames, 0);

    // file to file: no pipe on either side, so splice falls back to read/write
    let dir = std::env::temp_dir();
    let a = dir.join(format!("dstream-pt-in-{}", std::process::id()));
    let b = dir.join(format!("dstream-pt-out-{}", std::process::id()));
    std::fs::write(&a, &data).unwrap();
    let fin = File::open(&a).unwrap();
    let fout = File::create(&b).unwrap();
    let mut p = Pump::new(fin.as_raw_fd(), fout.as_raw_fd(), opts, b"").unwrap();
    let res = p.run();
    assert_eq!(res.outcome, Outcome::Eof, "{:?}", res.message);
    drop(fout);
    assert_eq!(std::fs::read(&b).unwrap(), data);
    let _ = std::fs::remove_file(&a);
    let _ = std::fs::remove_file(&b);
}

#[test]
fn run_in_slices_and_flags_restored() {
    let (ir, iw) = pipe();
    let (or, ow) = pipe();
    // SAFETY: F_GETFL on an fd we own.
    let flags = |fd: i32| unsafe { libc::fcntl(fd, libc::F_GETFL) };
    let before = (flags(ir.as_raw_fd()), flags(ow.as_raw_fd()));
    let f = feeder(iw, b"{\"data\":1}\n".repeat(1000));
    let d = drain(or);
    let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), Options::default(), b"").unwrap();
    let res = loop {
        if let Some(r) = p.run_for(Some(Duration::from_millis(1))) {
            break r;
        }
    };
    assert_eq!(res.outcome, Outcome::Eof);
    assert_eq!((flags(ir.as_raw_fd()), flags(ow.as_raw_fd())), before);
    drop(ow);
    f.join().unwrap();
    assert_eq!(d.join().unwrap().len(), 11_000);
}

#[test]
fn bad_fd_is_io_error() {
    let mut p = Pump::new(987_654, 987_655, Options::default(), b"").unwrap();
    let res = p.run();
    assert_eq!(res.outcome, Outcome::IoError);
    assert!(res
        .message
        .unwrap()
        .contains("input fd 987654 is not usable"));
}

#[test]
fn parallel_validation_matches_sequential() {
    // mixed valid/invalid frames, \r\n, blank lines; big enough to split into batches
    let mut input = Vec::new();
    for i in 0..30_000 {
        let line = match i % 97 {
            13 => "{\"data\":1,}".to_string(),
            29 => "[1,2]".to_string(),
            41 => "{\"data\":\"\u{1}\"}".to_string(),
            _ if i % 50 == 7 => format!("{{\"checkpoint\":{i}}}"),
            _ => format!(
                "{{\"data\":{{\"i\":{i},\"pad\":\"{}\"}},\"metadata\":{{\"TableName\":\"t{}\"}}}}",
                "p".repeat(i % 300),
                i % 5
            ),
        };
        input.extend_from_slice(line.as_bytes());
        input.extend_from_slice(if i % 3 == 0 { b"\r\n" } else { b"\n" });
        if i % 1000 == 0 {
            input.extend_from_slice(b"\n");
        }
    }
    for policy in [Policy::Skip, Policy::Fail] {
        let run = |threads| {
            let opts = Options {
                policy,
                validate_threads: threads,
                read_buffer_size: 1 << 17,
                ..Options::default()
            };
            pump(&input, opts, b"")
        };
        let (r1, o1, c1) = run(1);
        let (r4, o4, c4) = run(4);
        assert_eq!(r1.outcome, r4.outcome);
        assert_eq!(r1.message, r4.message);
        assert_eq!(r1.offset, r4.offset);
        // reading ahead may take more input before a failing frame is reached
        let (mut k1, mut k4) = (r1.counters.clone(), r4.counters.clone());
        if policy == Policy::Fail {
            (k1.bytes_read, k4.bytes_read) = (0, 0);
        }
        assert_eq!(k1, k4);
        assert_eq!(o1, o4);
        assert_eq!(c1, c4);
        if policy == Policy::Skip {
            assert_eq!(r1.counters.skipped, 3 * 30_000 / 97 + 1);
        } else {
            assert_eq!(r1.outcome, Outcome::InvalidFrame);
            assert_eq!(r1.counters.frames, 13);
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn pipes_are_grown() {
    let (ir, iw) = pipe();
    let (or, ow) = pipe();
    // SAFETY: F_GETPIPE_SZ on pipe fds we own.
    let size = |fd: i32| unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
    let f = feeder(iw, b"{\"data\":1}\n".repeat(10));
    let d = drain(or);
    let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), Options::default(), b"").unwrap();
    assert_eq!(p.run().outcome, Outcome::Eof);
    assert!(size(ir.as_raw_fd()) >= 1 << 20);
    assert!(size(ow.as_raw_fd()) >= 1 << 20);
    drop(ow);
    f.join().unwrap();
    assert_eq!(d.join().unwrap().len(), 110);
    // 0 leaves them alone
    let (ir, _iw) = pipe();
    let (_or, ow) = pipe();
    let before = size(ir.as_raw_fd());
    let opts = Options {
        pipe_size: 0,
        ..Options::default()
    };
    let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, b"").unwrap();
    p.handle().stop();
    assert_eq!(p.run().outcome, Outcome::Stopped);
    assert_eq!(size(ir.as_raw_fd()), before);
}

/// A provider writing spaced JSON makes the fast walk pause (FastWalkGate); its frames,
/// the compact ones after them and invalid ones on both sides are still handled exactly,
/// with the offset of each invalid frame.
#[test]
fn spaced_frames_then_compact_ones() {
    let mut input = Vec::new();
    let mut want = Vec::new();
    let mut bad = Vec::new();
    for i in 0..3000 {
        let line = match i {
            500 | 2500 => format!("{{\"data\": {i},}}\n"),
            _ if i < 1500 => {
                format!("{{\"data\": {{\"id\": {i}}}, \"metadata\": {{\"TableName\": \"t\"}}}}\n")
            }
            _ => format!("{{\"data\":{{\"id\":{i}}},\"metadata\":{{\"TableName\":\"t\"}}}}\n"),
        };
        if matches!(i, 500 | 2500) {
            bad.push(input.len() as u64);
        } else {
            want.extend_from_slice(line.as_bytes());
        }
        input.extend_from_slice(line.as_bytes());
    }
    let skip = Options {
        policy: Policy::Skip,
        ..Options::default()
    };
    let (res, out, _) = pump(&input, skip, b"");
    assert_eq!(res.outcome, Outcome::Eof, "{:?}", res.message);
    assert_eq!(out, want);
    assert_eq!((res.counters.frames, res.counters.skipped), (2998, 2));
    assert_eq!(res.counters.tables, vec![("t".to_string(), 2998)]);
    // under `fail`, each invalid frame stops the run at its own offset
    let cut = bad[0] as usize
        + input[bad[0] as usize..]
            .iter()
            .position(|&c| c == b'\n')
            .unwrap()
        + 1;
    let second = &input[cut..];
    for (stream, at) in [(&input[..], bad[0]), (second, bad[1] - cut as u64)] {
        let (res, out, _) = pump(stream, Options::default(), b"");
        assert_eq!(res.outcome, Outcome::InvalidFrame, "{:?}", res.message);
        assert_eq!(res.offset, Some(at));
        assert_eq!(out, &stream[..at as usize]);
    }
}

/// The pump over the stdout of a real child that writes a frame and half of another,
/// then exits with `exit` (a shell command: `exit 0`, `exit 3`, `kill -9 $$`).
#[cfg(target_os = "linux")]
fn tail_of_child(exit: &str) -> (dstream_core::PumpResult, Vec<u8>) {
    use std::process::{Command, Stdio};
    let script = format!("printf '{{\"data\":1}}\\n{{\"data\":2}}'; {exit}");
    let mut child = Command::new("/bin/sh")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (r, w) = pipe();
    let out = drain(r);
    let opts = Options {
        input_pid: Some(child.id()),
        ..Options::default()
    };
    let mut p = Pump::new(stdout.as_raw_fd(), w.as_raw_fd(), opts, b"").unwrap();
    let res = p.run();
    drop(p);
    drop(w);
    child.wait().unwrap(); // still reapable: the pump only peeked at its status
    (res, out.join().unwrap())
}

#[cfg(target_os = "linux")]
#[test]
fn a_crashed_inputs_torn_last_line_is_dropped_and_reported() {
    for exit in ["kill -9 $$", "exit 3"] {
        let (res, out) = tail_of_child(exit);
        assert_eq!(res.outcome, Outcome::Eof, "{exit}");
        assert_eq!(out, b"{\"data\":1}\n", "{exit}");
        assert_eq!(
            res.torn,
            Some(Torn {
                offset: 11,
                len: 10
            }),
            "{exit}"
        );
        assert_eq!(res.counters.invalid_frames, 0);
    }
    // a clean exit: the last line without a newline is a frame, as ever
    let (res, out) = tail_of_child("exit 0");
    assert_eq!(out, b"{\"data\":1}\n{\"data\":2}\n");
    assert_eq!(res.torn, None);
}

#[test]
fn end_input_forwards_what_the_pipe_holds_then_ends_as_at_eof() {
    // The write end stays open (an input's leftover holding its stdout): only
    // end_input ends the stream, and not before the bytes already written are read.
    let data = b"{\"data\":1}\n{\"checkpoint\":1}\n{\"data\":2}".to_vec();
    for (mode, opts) in transfer_modes() {
        let (ir, mut iw) = pipe();
        let (or, ow) = pipe();
        iw.write_all(&data).unwrap();
        let d = drain(or);
        let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, b"").unwrap();
        p.handle().end_input();
        let res = p.run();
        drop(ow);
        assert_eq!(res.outcome, Outcome::Eof, "{mode}: {:?}", res.message);
        let want: &[u8] = if mode == "passthrough" {
            &data
        } else {
            b"{\"data\":1}\n{\"checkpoint\":1}\n{\"data\":2}\n"
        };
        assert_eq!(d.join().unwrap(), want, "{mode}");
        drop(iw);
    }
}

#[test]
fn end_input_wakes_a_pump_waiting_on_an_idle_input() {
    for (mode, opts) in transfer_modes() {
        let (ir, mut iw) = pipe();
        let (or, ow) = pipe();
        iw.write_all(b"{\"data\":1}\n").unwrap();
        let d = drain(or);
        let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, b"").unwrap();
        let h = p.handle();
        let t = thread::spawn(move || {
            // once the byte count shows the line went through, the pump waits on input
            while h.counters().bytes < 11 {
                thread::sleep(Duration::from_millis(10));
            }
            h.end_input();
        });
        let res = p.run();
        drop(ow);
        t.join().unwrap();
        assert_eq!(res.outcome, Outcome::Eof, "{mode}: {:?}", res.message);
        assert_eq!(d.join().unwrap(), b"{\"data\":1}\n", "{mode}");
        drop(iw);
    }
}

#[test]
fn stop_still_stops_after_end_input() {
    // end_input's wake is taken back; stop's is not: a stalled output is left at once.
    let (ir, iw) = pipe();
    let (_or, ow) = pipe(); // nobody reads
    let f = feeder(iw, b"{\"data\":1}\n".repeat(100_000));
    let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), Options::default(), b"").unwrap();
    let h = p.handle();
    let t = thread::spawn(move || {
        // wait until the pump is stuck on the full output pipe
        let mut last = u64::MAX;
        loop {
            thread::sleep(Duration::from_millis(50));
            let c = h.counters().bytes_read;
            if c == last && c > 0 {
                break;
            }
            last = c;
        }
        h.end_input();
        h.stop();
    });
    let res = p.run();
    t.join().unwrap();
    assert_eq!(res.outcome, Outcome::Stopped);
    drop(ir);
    f.join().unwrap();
}

#[test]
fn a_null_checkpoint_is_an_invalid_frame() {
    // compact (the fast walk frames it) and spaced (the strict walk), one validation
    // thread and several: the frame, its offset, and nothing of it stored or forwarded
    for null in [&b"{\"checkpoint\":null}"[..], b"{ \"checkpoint\" : null }"] {
        for threads in [1, 2] {
            let mut input = b"{\"data\":1}\n{\"checkpoint\":1}\n".to_vec();
            let bad_at = input.len() as u64;
            input.extend_from_slice(null);
            input.extend_from_slice(b"\n{\"data\":2}\n{\"checkpoint\":2}\n");
            let opts = |policy| Options {
                start_offset: 100,
                validate_threads: threads,
                policy,
                ..Options::default()
            };
            let (res, out, cps) = pump(&input, opts(Policy::Fail), b"");
            assert_eq!(res.outcome, Outcome::InvalidFrame, "{threads}");
            assert_eq!(res.offset, Some(100 + bad_at));
            assert_eq!(res.excerpt.as_deref(), Some(null));
            assert!(res.message.unwrap().starts_with("checkpoint is null"));
            assert_eq!(out, b"{\"data\":1}\n{\"checkpoint\":1}\n");
            assert_eq!(cps, vec![b"1".to_vec()]);

            let (res, out, cps) = pump(&input, opts(Policy::Skip), b"");
            assert_eq!(res.outcome, Outcome::Eof);
            assert_eq!(res.counters.skipped, 1);
            assert_eq!(
                out,
                b"{\"data\":1}\n{\"checkpoint\":1}\n{\"data\":2}\n{\"checkpoint\":2}\n"
            );
            assert_eq!(cps, vec![b"1".to_vec(), b"2".to_vec()]);
        }
    }
}

#[test]
fn a_dead_letter_is_on_disk_before_a_checkpoint_after_it_is_handed_out() {
    let path =
        std::env::temp_dir().join(format!("dstream-pump-dl-cp-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let (ir, iw) = pipe();
    let (or, ow) = pipe();
    let d = drain(or);
    let opts = Options {
        policy: Policy::DeadLetter,
        dead_letter_path: Some(path.clone()),
        task: "t".into(),
        ..Options::default()
    };
    // The frames come as the prefix, framed at the start: a slice of zero then writes
    // them and ends before any read, so no idle wait syncs the file meanwhile.
    let prefix = b"{\"data\":1}\n[1]\n{\"checkpoint\":2}\n";
    let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), opts, prefix).unwrap();
    let h = p.handle();
    assert!(p.run_for(Some(Duration::ZERO)).is_none());
    // once the runtime knows the checkpoint was sent, its acknowledgement may store it:
    // the invalid frame before it is on disk by then
    assert_eq!(h.take_checkpoints(), vec![b"2".to_vec()]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"raw\":\"[1]\""), "{text:?}");
    drop(iw);
    let res = p.run();
    assert_eq!(res.outcome, Outcome::Eof, "{:?}", res.message);
    assert_eq!(res.counters.dead_lettered, 1);
    drop(ow);
    assert_eq!(d.join().unwrap(), b"{\"data\":1}\n{\"checkpoint\":2}\n");
    let _ = std::fs::remove_file(&path);
}

/// More checkpoints than may await an acknowledgement, none acknowledged: the first
/// MAX_IN_FLIGHT_CHECKPOINTS are forwarded, the newest of the others is held back and
/// forwarded at the end of the stream (after the data that followed it, `\r\n` ended in
/// the input), the ones it replaced are coalesced; the same whichever way bytes cross.
#[test]
fn checkpoints_beyond_those_in_flight_are_coalesced_and_the_last_one_still_goes_out() {
    let most = dstream_core::pump::MAX_IN_FLIGHT_CHECKPOINTS as usize;
    let n = most + 10;
    let (mut input, mut want, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let data = format!("{{\"data\":{i}}}\n");
        let cp = format!("{{\"checkpoint\":{{\"n\":{i}}}}}");
        input.extend_from_slice(data.as_bytes());
        input.extend_from_slice(cp.as_bytes());
        input.extend_from_slice(if i == n - 1 { b"\r\n" } else { b"\n" });
        want.extend_from_slice(data.as_bytes());
        if i < most {
            want.extend_from_slice(cp.as_bytes());
            want.push(b'\n');
            values.push(format!("{{\"n\":{i}}}").into_bytes());
        }
    }
    input.extend_from_slice(b"{\"data\":\"after\"}\n");
    want.extend_from_slice(b"{\"data\":\"after\"}\n");
    want.extend_from_slice(format!("{{\"checkpoint\":{{\"n\":{}}}}}\n", n - 1).as_bytes());
    values.push(format!("{{\"n\":{}}}", n - 1).into_bytes());
    for (name, opts) in transfer_modes().into_iter().filter(|(_, o)| o.validate) {
        let (res, out, cps) = pump(&input, opts, b"");
        assert_eq!(res.outcome, Outcome::Eof, "{name}: {:?}", res.message);
        assert!(out == want, "{name}: the output differs");
        assert!(cps == values, "{name}: the checkpoints handed out differ");
        let c = &res.counters;
        assert_eq!(c.checkpoint_frames, most as u64 + 1, "{name}");
        assert_eq!(c.checkpoints_coalesced, 9, "{name}");
        assert_eq!(c.data_frames, n as u64 + 1, "{name}");
        assert_eq!(c.bytes, want.len() as u64, "{name}");
    }
}

/// An acknowledgement that makes room while the input is idle wakes the pump, which
/// forwards the checkpoint it held back at once, without waiting for more input.
#[test]
fn an_acknowledgement_sends_the_held_checkpoint_while_the_input_is_idle() {
    let most = dstream_core::pump::MAX_IN_FLIGHT_CHECKPOINTS;
    let (ir, mut iw) = pipe();
    let (mut or, ow) = pipe();
    let mut p = Pump::new(ir.as_raw_fd(), ow.as_raw_fd(), Options::default(), b"").unwrap();
    let h = p.handle();
    let pumping = thread::spawn(move || p.run());
    let mut input = Vec::new();
    for i in 0..=most {
        input.extend_from_slice(format!("{{\"checkpoint\":{i}}}\n").as_bytes());
    }
    input.extend_from_slice(b"{\"data\":\"after\"}\n");
    iw.write_all(&input).unwrap(); // and the input stays open, idle
    let mut read = Vec::new();
    while !read.ends_with(b"{\"data\":\"after\"}\n") {
        read_some(&mut or, &mut read);
    }
    let held = format!("{{\"checkpoint\":{most}}}\n");
    assert!(!read.windows(held.len()).any(|w| w == held.as_bytes()));
    assert_eq!(h.take_checkpoints().len(), most as usize);
    h.acknowledged(most);
    while !read.ends_with(held.as_bytes()) {
        read_some(&mut or, &mut read);
    }
    assert_eq!(h.take_checkpoints(), vec![most.to_string().into_bytes()]);
    drop(iw);
    let res = pumping.join().unwrap();
    assert_eq!(res.outcome, Outcome::Eof, "{:?}", res.message);
    assert_eq!(res.counters.checkpoint_frames, most + 1);
    assert_eq!(res.counters.checkpoints_coalesced, 0);
}

/// Reads what `r` has into `read`: fails when nothing comes for a minute (rather than
/// hang), or at its end.
fn read_some(r: &mut File, read: &mut Vec<u8>) {
    let mut fds = libc::pollfd {
        fd: r.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let ready = unsafe { libc::poll(&mut fds, 1, 60_000) };
    assert_eq!(
        ready,
        1,
        "nothing to read for a minute after {} bytes",
        read.len()
    );
    let mut chunk = [0u8; 1 << 16];
    let k = r.read(&mut chunk).unwrap();
    assert!(k > 0, "the output's pipe closed");
    read.extend_from_slice(&chunk[..k]);
}
