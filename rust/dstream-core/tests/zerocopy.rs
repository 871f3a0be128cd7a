//! Zero-copy forwarding (tee(2)/splice(2), Linux) must give exactly what reading and
//! writing gives: the same bytes out, the same counters, checkpoints and errors, for any
//! mix of valid, invalid, blank, `\r\n`, oversized and unterminated lines, cut into
//! writes of any size.
#![cfg(target_os = "linux")]

mod common;

use common::{feeder, pipe, pump_seeded, Run};
use dstream_core::{Options, Outcome, Policy, Pump};
use proptest::prelude::*;
use std::os::fd::AsRawFd;

/// One line of the generated stream (without its line ending).
fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => (0u32..1000, 0usize..300).prop_map(|(i, pad)| format!(
            "{{\"data\":{{\"i\":{i},\"pad\":\"{}\"}},\"metadata\":{{\"TableName\":\"t{}\"}}}}",
            "p".repeat(pad),
            i % 3
        ).into_bytes()),
        1 => (0u32..1000).prop_map(|i| format!("{{\"checkpoint\":{{\"n\":{i}}}}}").into_bytes()),
        1 => prop_oneof![
            Just(b"{\"data\":1,}".to_vec()),
            Just(b"[1,2]".to_vec()),
            Just(b"not json".to_vec()),
            Just(vec![0xff, 0xfe]),
        ],
        1 => Just(b"   ".to_vec()),
        1 => Just(Vec::new()),
        // longer than the max_frame_size used below
        1 => (500usize..3000).prop_map(|n| format!("{{\"data\":\"{}\"}}", "o".repeat(n)).into_bytes()),
    ]
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((line(), 0u8..4), 0..400),
        any::<bool>(),
    )
        .prop_map(|(lines, last_nl)| {
            let mut out = Vec::new();
            let n = lines.len();
            for (k, (l, ending)) in lines.into_iter().enumerate() {
                out.extend_from_slice(&l);
                if k + 1 < n || last_nl {
                    out.extend_from_slice(if ending == 0 { b"\r\n" } else { b"\n" });
                }
            }
            out
        })
}

/// One run, and what it wrote to its dead-letter file.
fn run(input: &[u8], policy: Policy, zero_copy: bool, seed: usize, read: usize) -> (Run, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("dstream-zc-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let opts = Options {
        policy,
        dead_letter_path: Some(dir.join("dead.jsonl")),
        max_frame_size: 400,
        read_buffer_size: read,
        zero_copy,
        ..Options::default()
    };
    let r = pump_seeded(input, opts, b"", seed);
    let dead = std::fs::read(dir.join("dead.jsonl")).unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    (r, dead)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn zero_copy_forwards_exactly_what_copying_does(
        input in stream(),
        policy in prop_oneof![Just(Policy::Skip), Just(Policy::Fail), Just(Policy::DeadLetter)],
        seed in 1usize..5000,
        read in prop_oneof![Just(64usize), Just(1000), Just(1 << 18)],
    ) {
        let (zc, zc_dead) = run(&input, policy, true, seed, read);
        let (copy, copy_dead) = run(&input, policy, false, seed, read);
        prop_assert!(zc.zero_copy && !copy.zero_copy);
        prop_assert_eq!(zc_dead, copy_dead);
        prop_assert_eq!(zc.result.outcome, copy.result.outcome);
        prop_assert_eq!(&zc.result.message, &copy.result.message);
        prop_assert_eq!(zc.result.offset, copy.result.offset);
        prop_assert_eq!(&zc.output, &copy.output);
        prop_assert_eq!(&zc.checkpoints, &copy.checkpoints);
        if copy.result.outcome == Outcome::Eof {
            prop_assert_eq!(&zc.result.counters, &copy.result.counters);
        } else {
            // a failing run may have taken different amounts of input before stopping
            let (mut a, mut b) = (zc.result.counters.clone(), copy.result.counters.clone());
            (a.bytes_read, b.bytes_read) = (0, 0);
            prop_assert_eq!(a, b);
        }
    }
}

/// Input a pipe, output a file: splice(2) writes a plain file, but refuses one opened
/// for appending (EINVAL), and the pump must then write the rest itself.
#[test]
fn file_outputs_splice_or_fall_back_to_writing() {
    let mut input = Vec::new();
    for i in 0..20_000 {
        input.extend_from_slice(format!("{{\"data\":{i}}}\n").as_bytes());
    }
    for append in [false, true] {
        let path = std::env::temp_dir().join(format!(
            "dstream-zc-file-{}-{append}.jsonl",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let out = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .append(append)
            .open(&path)
            .unwrap();
        let (ir, iw) = pipe();
        let f = feeder(iw, input.clone());
        let mut p = Pump::new(ir.as_raw_fd(), out.as_raw_fd(), Options::default(), b"").unwrap();
        let res = p.run();
        f.join().unwrap();
        assert_eq!(res.outcome, Outcome::Eof, "{:?}", res.message);
        assert_eq!(res.counters.frames, 20_000);
        // zero-copy stays on for a plain file and is given up for an appending one
        assert_eq!(p.zero_copy_active(), !append);
        assert_eq!(std::fs::read(&path).unwrap(), input, "append={append}");
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn pipes_use_zero_copy() {
    let input = b"{\"data\":1}\n".repeat(1000);
    let (r, _) = run(&input, Policy::Fail, true, 7, 1 << 18);
    assert!(r.zero_copy);
    assert_eq!(r.output, input);
    assert_eq!(r.result.counters.bytes_read, input.len() as u64);
}

/// Makes tee(2) fail with ENOSYS on the calling thread (and threads it starts later), as
/// on a kernel or in a sandbox without it: a seccomp filter, which is per thread unless
/// synchronised, so the rest of the test process keeps tee.
#[cfg(target_arch = "x86_64")]
fn refuse_tee_on_this_thread() {
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    // offsets in struct seccomp_data
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let op = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let filter = [
        op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, ARCH, 0, 0),
        op(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH_X86_64,
            0,
            3,
        ),
        op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, NR, 0, 0),
        op(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            libc::SYS_tee as u32,
            0,
            1,
        ),
        op(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
            0,
            0,
        ),
        op(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW, 0, 0),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prctl with integer arguments, and with a pointer to `prog`, which points to
    // `filter`; both outlive the call (the kernel copies the program).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        let r = libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
        );
        assert_eq!(r, 0, "seccomp: {}", std::io::Error::last_os_error());
    }
}

/// Where tee(2) is refused, zero-copy is given up at the first peek and the pump reads
/// and writes: the same output, counters and errors as a copying run.
#[cfg(target_arch = "x86_64")]
#[test]
fn refused_tee_falls_back_to_reading() {
    let mut input = Vec::new();
    for i in 0..5_000 {
        input.extend_from_slice(format!("{{\"data\":{i}}}\n").as_bytes());
        if i % 1000 == 7 {
            input.extend_from_slice(b"not json\r\n\n");
        }
    }
    std::thread::spawn(move || {
        refuse_tee_on_this_thread();
        let (r0, w0) = pipe();
        // SAFETY: tee with two pipe fds and no memory of ours.
        let refused = unsafe { libc::tee(r0.as_raw_fd(), w0.as_raw_fd(), 1, 0) };
        assert_eq!(refused, -1, "the filter did not refuse tee(2)");
        let (refused, _) = run(&input, Policy::Skip, true, 11, 1000);
        let (copying, _) = run(&input, Policy::Skip, false, 11, 1000);
        assert!(!refused.zero_copy, "zero-copy stayed on without tee(2)");
        assert_eq!(
            refused.result.outcome,
            Outcome::Eof,
            "{:?}",
            refused.result.message
        );
        assert_eq!(refused.result.counters.frames, 5_000);
        assert_eq!(refused.result.counters, copying.result.counters);
        assert_eq!(refused.output, copying.output);
    })
    .join()
    .unwrap();
}
