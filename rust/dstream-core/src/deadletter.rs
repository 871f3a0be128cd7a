//! Dead-letter file: one JSON line per invalid frame.
//!
//! `{"task":"t","offset":123,"reason":"...","raw":"<frame as a JSON string>"}`, or
//! `"raw_base64"` when the frame is not UTF-8. An oversized frame is streamed as it is
//! read (never buffered whole): `{"task","offset","reason","raw_base64":"...","length":N}`
//! where `raw_base64` holds every byte of the line except its final `\n` and `length`
//! is that byte count. The file is opened once in append mode on first use, and
//! flushed + fsynced by [`DeadLetter::finish`].

use crate::error::Error;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

pub struct DeadLetter {
    path: PathBuf,
    task: String,
    file: Option<BufWriter<File>>,
    scratch: Vec<u8>,
    carry: [u8; 3],
    carry_len: usize,
    stream_len: u64,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends `s` to `out` as a JSON string literal (quotes included).
pub fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => {
                let hex = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(hex[(c >> 4) as usize]);
                out.push(hex[(c & 15) as usize]);
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// Appends the base64 of whole 3-byte groups of `s`; returns how many bytes remain.
fn b64_groups(out: &mut Vec<u8>, s: &[u8]) -> usize {
    let mut chunks = s.chunks_exact(3);
    for c in &mut chunks {
        let n = ((c[0] as u32) << 16) | ((c[1] as u32) << 8) | c[2] as u32;
        out.extend_from_slice(&[
            B64[(n >> 18) as usize & 63],
            B64[(n >> 12) as usize & 63],
            B64[(n >> 6) as usize & 63],
            B64[n as usize & 63],
        ]);
    }
    chunks.remainder().len()
}

fn b64_tail(out: &mut Vec<u8>, s: &[u8]) {
    match s.len() {
        1 => {
            let n = (s[0] as u32) << 16;
            out.extend_from_slice(&[
                B64[(n >> 18) as usize & 63],
                B64[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        2 => {
            let n = ((s[0] as u32) << 16) | ((s[1] as u32) << 8);
            out.extend_from_slice(&[
                B64[(n >> 18) as usize & 63],
                B64[(n >> 12) as usize & 63],
                B64[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

/// Base64 of `s` (standard alphabet, padded).
pub fn base64(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len().div_ceil(3) * 4);
    let rem = b64_groups(&mut out, s);
    b64_tail(&mut out, &s[s.len() - rem..]);
    out
}

impl DeadLetter {
    pub fn new(path: PathBuf, task: String) -> DeadLetter {
        DeadLetter {
            path,
            task,
            file: None,
            scratch: Vec::new(),
            carry: [0; 3],
            carry_len: 0,
            stream_len: 0,
        }
    }

    fn ctx(&self) -> String {
        format!("cannot write dead-letter file {}", self.path.display())
    }

    fn file(&mut self) -> Result<&mut BufWriter<File>, Error> {
        if self.file.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| {
                    Error::io(
                        format!("cannot open dead-letter file {}", self.path.display()),
                        e,
                    )
                })?;
            self.file = Some(BufWriter::with_capacity(1 << 16, f));
        }
        Ok(self.file.as_mut().unwrap())
    }

    fn head(&mut self, offset: u64, reason: &str) {
        self.scratch.clear();
        self.scratch.extend_from_slice(b"{\"task\":");
        let task = std::mem::take(&mut self.task);
        json_str(&mut self.scratch, task.as_bytes());
        self.task = task;
        self.scratch
            .extend_from_slice(format!(",\"offset\":{offset},\"reason\":").as_bytes());
        json_str(&mut self.scratch, reason.as_bytes());
    }

    fn emit(&mut self) -> Result<(), Error> {
        let buf = std::mem::take(&mut self.scratch);
        let ctx = self.ctx();
        let r = self.file()?.write_all(&buf).map_err(|e| Error::io(ctx, e));
        self.scratch = buf;
        r
    }

    /// Appends the record of a whole invalid frame.
    pub fn record(&mut self, offset: u64, reason: &str, raw: &[u8]) -> Result<(), Error> {
        self.head(offset, reason);
        if simdutf8::basic::from_utf8(raw).is_ok() {
            self.scratch.extend_from_slice(b",\"raw\":");
            json_str(&mut self.scratch, raw);
        } else {
            self.scratch.extend_from_slice(b",\"raw_base64\":\"");
            let b = base64(raw);
            self.scratch.extend_from_slice(&b);
            self.scratch.push(b'"');
        }
        self.scratch.extend_from_slice(b"}\n");
        self.emit()
    }

    /// Starts a streamed record (oversized frame).
    pub fn begin_stream(&mut self, offset: u64, reason: &str) -> Result<(), Error> {
        self.head(offset, reason);
        self.scratch.extend_from_slice(b",\"raw_base64\":\"");
        self.carry_len = 0;
        self.stream_len = 0;
        self.emit()
    }

    /// Appends bytes of the streamed frame.
    pub fn stream(&mut self, mut chunk: &[u8]) -> Result<(), Error> {
        self.stream_len += chunk.len() as u64;
        self.scratch.clear();
        while self.carry_len > 0 && self.carry_len < 3 && !chunk.is_empty() {
            self.carry[self.carry_len] = chunk[0];
            self.carry_len += 1;
            chunk = &chunk[1..];
        }
        if self.carry_len == 3 {
            let c = self.carry;
            b64_groups(&mut self.scratch, &c);
            self.carry_len = 0;
        }
        if self.carry_len == 0 {
            let rem = b64_groups(&mut self.scratch, chunk);
            self.carry[..rem].copy_from_slice(&chunk[chunk.len() - rem..]);
            self.carry_len = rem;
        }
        self.emit()
    }

    /// Ends the streamed record.
    pub fn end_stream(&mut self) -> Result<(), Error> {
        self.scratch.clear();
        let c = self.carry;
        b64_tail(&mut self.scratch, &c[..self.carry_len]);
        self.carry_len = 0;
        self.scratch
            .extend_from_slice(format!("\",\"length\":{}}}\n", self.stream_len).as_bytes());
        self.emit()
    }

    /// Flushes and fsyncs, if anything was written.
    pub fn finish(&mut self) -> Result<(), Error> {
        let ctx = self.ctx();
        if let Some(f) = self.file.as_mut() {
            f.flush().map_err(|e| Error::io(ctx.clone(), e))?;
            f.get_ref().sync_all().map_err(|e| Error::io(ctx, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64() {
        assert_eq!(base64(b""), b"");
        assert_eq!(base64(b"f"), b"Zg==");
        assert_eq!(base64(b"fo"), b"Zm8=");
        assert_eq!(base64(b"foo"), b"Zm9v");
        assert_eq!(base64(b"foobar"), b"Zm9vYmFy");
    }

    #[test]
    fn streamed_equals_whole() {
        let dir = std::env::temp_dir().join(format!("dstream-dl-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut dl = DeadLetter::new(dir.clone(), "t\"1".into());
        dl.begin_stream(5, "too big").unwrap();
        for c in data.chunks(7) {
            dl.stream(c).unwrap();
        }
        dl.end_stream().unwrap();
        dl.record(9, "bad", b"{\"a\":\x01}").unwrap();
        dl.finish().unwrap();
        let text = std::fs::read_to_string(&dir).unwrap();
        let _ = std::fs::remove_file(&dir);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["task"], "t\"1");
        assert_eq!(lines[0]["offset"], 5);
        assert_eq!(lines[0]["length"], 1000);
        assert_eq!(
            lines[0]["raw_base64"].as_str().unwrap().as_bytes(),
            base64(&data).as_slice()
        );
        assert_eq!(lines[1]["raw"], "{\"a\":\u{1}}");
    }
}
