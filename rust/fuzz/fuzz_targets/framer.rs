//! Any split of a byte stream into reads yields the same events (first input byte picks
//! the read size and the max frame size), and so does framing by the fast validation
//! walk where it can (`Framer::next_parsed` with one `FastWalkGate::prefix`, its memory
//! of keys carried from frame to frame, as the pump does).
#![no_main]

use dstream_core::framer::{Event, Framer};
use dstream_core::validate::FastWalkGate;
use libfuzzer_sys::fuzz_target;

fn frames(data: &[u8], max: usize, read: usize, parsed: bool) -> Vec<Result<Vec<u8>, (u64, u64)>> {
    let mut f = Framer::new(max, read, 0, b"");
    let mut out = Vec::new();
    let mut rest = data;
    let mut over = 0u64;
    let mut eof = false;
    let mut gate = FastWalkGate::default();
    loop {
        loop {
            if parsed {
                let lines_end = f.utf8_lines_end();
                if let Some((start, end, _, _)) = f.next_parsed(lines_end, |b| gate.prefix(b)) {
                    out.push(Ok(f.buf()[start..end].to_vec()));
                    continue;
                }
            }
            let Some(ev) = f.next_event() else { break };
            match ev {
                Event::Frame { start, end, .. } => out.push(Ok(f.buf()[start..end].to_vec())),
                Event::Oversized { start, end, offset, last, .. } => {
                    over += (end - start) as u64;
                    if last {
                        out.push(Err((offset, over)));
                        over = 0;
                    }
                }
            }
        }
        if eof {
            return out;
        }
        if rest.is_empty() {
            // one more pass: the final line without a newline becomes a frame
            f.set_eof();
            eof = true;
            continue;
        }
        let sp = f.spare();
        let n = sp.len().min(rest.len()).min(read);
        sp[..n].copy_from_slice(&rest[..n]);
        f.commit(n);
        rest = &rest[n..];
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, data)) = data.split_first() else { return };
    let max = 1 + (knob & 0x0f) as usize;
    let read = 1 + (knob >> 4) as usize;
    let whole = frames(data, max, 1 << 16, false);
    assert_eq!(frames(data, max, read, false), whole);
    assert_eq!(frames(data, max, read, true), whole);
});
