//! Dead-letter file: one JSON line per invalid frame.
//!
//! `{"task":"t","offset":123,"reason":"...","raw":"<frame as a JSON string>"}`, or
//! `"raw_base64"` when the frame is not UTF-8. An oversized frame is streamed as it is
//! read (never buffered whole): `{"task","offset","reason","raw":"...","length":N}`
//! where `length` is the byte count of the line without its final `\n`. It is text as
//! long as the bytes are UTF-8 (a person reads a dead letter); from the first byte that
//! is not, the rest goes to `"raw_base64"`: the line is `raw` (UTF-8 encoded) followed
//! by the decoded `raw_base64`, when present.
//!
//! The file is opened once in append mode on first use; it must be a regular file (a
//! FIFO or a device would block the pump or swallow the records). Records are buffered:
//! [`DeadLetter::sync`] flushes and fsyncs them (and the directory after creating the
//! file), and the pump calls it before it forwards a checkpoint, since the checkpoint's
//! acknowledgement stores a position past them; and at the end ([`DeadLetter::finish`]).

use crate::error::Error;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct DeadLetter {
    path: PathBuf,
    task: String,
    file: Option<BufWriter<File>>,
    scratch: Vec<u8>,
    carry: [u8; 3],
    carry_len: usize,
    stream_len: u64,
    // A streamed record is still text (`raw`), and the bytes of a UTF-8 sequence that
    // the last chunk cut in two.
    text: bool,
    pending: [u8; 4],
    pending_len: usize,
    /// Whole records written since the last sync: not yet known to be on disk.
    unsynced: u64,
    /// The file was created by this run: its directory entry is synced with it once.
    created: bool,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends `s` to `out` as a JSON string literal (quotes included).
pub fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    json_escape(out, s);
    out.push(b'"');
}

/// Appends the UTF-8 bytes `s` JSON-escaped, without quotes.
fn json_escape(out: &mut Vec<u8>, s: &[u8]) {
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
}

/// The length of the UTF-8 sequence that `lead` starts (1 for a byte that starts none).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
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
            text: true,
            pending: [0; 4],
            pending_len: 0,
            unsynced: 0,
            created: false,
        }
    }

    fn error(&self, action: &str, source: io::Error) -> Error {
        Error::DeadLetter {
            context: format!("cannot {action} dead-letter file {}", self.path.display()),
            source,
        }
    }

    fn file(&mut self) -> Result<&mut BufWriter<File>, Error> {
        if self.file.is_none() {
            let (f, created) = open(&self.path).map_err(|e| self.error("open", e))?;
            self.created = created;
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
        let r = self.file()?.write_all(&buf);
        self.scratch = buf;
        r.map_err(|e| self.error("write", e))
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
        self.emit()?;
        self.unsynced += 1;
        Ok(())
    }

    /// Starts a streamed record (oversized frame).
    pub fn begin_stream(&mut self, offset: u64, reason: &str) -> Result<(), Error> {
        self.head(offset, reason);
        self.scratch.extend_from_slice(b",\"raw\":\"");
        self.carry_len = 0;
        self.stream_len = 0;
        self.text = true;
        self.pending_len = 0;
        self.emit()
    }

    /// Appends bytes of the streamed frame.
    pub fn stream(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.stream_len += chunk.len() as u64;
        self.scratch.clear();
        if self.text {
            self.text_chunk(chunk);
        } else {
            self.b64_chunk(chunk);
        }
        self.emit()
    }

    /// Escapes the UTF-8 of `chunk` into the scratch; switches to base64 at the first
    /// byte that is not UTF-8.
    fn text_chunk(&mut self, mut chunk: &[u8]) {
        if self.pending_len > 0 {
            let need = sequence_len(self.pending[0]);
            while self.pending_len < need && !chunk.is_empty() {
                self.pending[self.pending_len] = chunk[0];
                self.pending_len += 1;
                chunk = &chunk[1..];
            }
            if self.pending_len < need {
                return; // still cut: the next chunk completes it
            }
            let pending = self.pending;
            self.pending_len = 0;
            if std::str::from_utf8(&pending[..need]).is_err() {
                self.switch_to_base64(&pending[..need]);
                self.b64_chunk(chunk);
                return;
            }
            json_escape(&mut self.scratch, &pending[..need]);
        }
        match simdutf8::compat::from_utf8(chunk) {
            Ok(_) => json_escape(&mut self.scratch, chunk),
            Err(e) => {
                let valid = e.valid_up_to();
                json_escape(&mut self.scratch, &chunk[..valid]);
                if e.error_len().is_none() {
                    let rest = &chunk[valid..]; // a sequence the chunk cut: at most 3 bytes
                    self.pending[..rest.len()].copy_from_slice(rest);
                    self.pending_len = rest.len();
                } else {
                    self.switch_to_base64(&chunk[valid..]);
                }
            }
        }
    }

    /// Closes the text and continues the record in base64, starting with `rest`.
    fn switch_to_base64(&mut self, rest: &[u8]) {
        self.scratch.extend_from_slice(b"\",\"raw_base64\":\"");
        self.text = false;
        self.carry_len = 0;
        self.b64_chunk(rest);
    }

    /// Appends the base64 of `chunk` to the scratch, carrying an incomplete group.
    fn b64_chunk(&mut self, mut chunk: &[u8]) {
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
    }

    /// Ends the streamed record.
    pub fn end_stream(&mut self) -> Result<(), Error> {
        self.scratch.clear();
        if self.text && self.pending_len > 0 {
            // The frame ended inside a UTF-8 sequence: those bytes are not text.
            let pending = self.pending;
            let cut = self.pending_len;
            self.pending_len = 0;
            self.switch_to_base64(&pending[..cut]);
        }
        if !self.text {
            let c = self.carry;
            b64_tail(&mut self.scratch, &c[..self.carry_len]);
            self.carry_len = 0;
        }
        self.scratch
            .extend_from_slice(format!("\",\"length\":{}}}\n", self.stream_len).as_bytes());
        self.emit()?;
        self.unsynced += 1;
        Ok(())
    }

    /// Whether records were written since the last [`DeadLetter::sync`].
    #[inline(always)]
    pub fn unsynced(&self) -> bool {
        self.unsynced > 0
    }

    /// Flushes and fsyncs what was written (the directory too, once, after creating the
    /// file). Returns how many records that put on disk; none when it fails.
    pub fn sync(&mut self) -> Result<u64, Error> {
        let Some(f) = self.file.as_mut() else {
            return Ok(0);
        };
        let r = f.flush().and_then(|()| f.get_ref().sync_all());
        r.map_err(|e| self.error("write", e))?;
        if self.created {
            sync_directory(&self.path).map_err(|e| self.error("sync the directory of", e))?;
            self.created = false;
        }
        Ok(std::mem::take(&mut self.unsynced))
    }

    /// At the end of a run: [`DeadLetter::sync`], also of a streamed record cut short.
    pub fn finish(&mut self) -> Result<u64, Error> {
        self.sync()
    }
}

/// Opens `path` for appending, creating it (true: it was created). A FIFO or a device
/// is refused: the open itself is non-blocking, so a FIFO without a reader cannot hang
/// the pump.
fn open(path: &Path) -> io::Result<(File, bool)> {
    let not_a_file = || io::Error::other("it is not a regular file");
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(not_a_file()); // and not ENXIO, a FIFO's error without a reader
    }
    let mut options = OpenOptions::new();
    options.append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let (f, created) = match options.clone().create_new(true).open(path) {
        Ok(f) => (f, true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => (options.open(path)?, false),
        Err(e) => return Err(e),
    };
    if !f.metadata()?.is_file() {
        return Err(not_a_file()); // it became one since
    }
    Ok((f, created))
}

/// Makes a new file's directory entry durable, as its contents are.
fn sync_directory(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line a streamed record holds: `raw` then the decoded `raw_base64`.
    fn streamed_bytes(record: &serde_json::Value) -> Vec<u8> {
        let mut out = record["raw"].as_str().unwrap().as_bytes().to_vec();
        if let Some(b64) = record["raw_base64"].as_str() {
            let text: Vec<u8> = b64.bytes().filter(|&b| b != b'=').collect();
            let value = |c: u8| B64.iter().position(|&x| x == c).unwrap() as u32;
            for group in text.chunks(4) {
                let n = group
                    .iter()
                    .enumerate()
                    .fold(0u32, |n, (i, &c)| n | value(c) << (18 - 6 * i));
                let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
                out.extend_from_slice(&bytes[..group.len() - 1]);
            }
        }
        out
    }

    fn stream_in_pieces(data: &[u8], piece: usize) -> serde_json::Value {
        let path = std::env::temp_dir().join(format!(
            "dstream-dl-{}-{}-{}",
            std::process::id(),
            piece,
            data.len()
        ));
        let _ = std::fs::remove_file(&path);
        let mut dl = DeadLetter::new(path.clone(), "t".into());
        dl.begin_stream(0, "too big").unwrap();
        for c in data.chunks(piece) {
            dl.stream(c).unwrap();
        }
        dl.end_stream().unwrap();
        dl.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        serde_json::from_str(text.trim_end()).unwrap()
    }

    #[test]
    fn streamed_text_stays_text_whatever_the_cuts() {
        let data = "{\"data\":\"héllo ✓ 𝄞 \u{1}\"}".repeat(50).into_bytes();
        for piece in [1, 2, 3, 5, 7, 64, 4096] {
            let record = stream_in_pieces(&data, piece);
            assert!(record.get("raw_base64").is_none(), "piece {piece}");
            assert_eq!(record["raw"].as_str().unwrap().as_bytes(), data.as_slice());
            assert_eq!(record["length"], data.len());
        }
    }

    #[test]
    fn streamed_bytes_switch_to_base64_at_the_first_invalid_byte() {
        let mut data = "é".repeat(20).into_bytes();
        data.extend_from_slice(b"\xff\xfe tail \xc3");
        for piece in [1, 2, 3, 5, 4096] {
            let record = stream_in_pieces(&data, piece);
            assert_eq!(record["raw"], "é".repeat(20), "piece {piece}");
            assert_eq!(streamed_bytes(&record), data, "piece {piece}");
        }
        let cut_at_end = stream_in_pieces("ab\u{e9}".as_bytes().split_last().unwrap().1, 1);
        assert_eq!(cut_at_end["raw"], "ab");
        assert_eq!(streamed_bytes(&cut_at_end), b"ab\xc3");
    }

    fn temp_path(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("dstream-dl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn records_are_on_disk_and_counted_once_synced() {
        let path = temp_path("sync");
        let mut dl = DeadLetter::new(path.clone(), "t".into());
        assert!(!dl.unsynced());
        assert_eq!(dl.sync().unwrap(), 0);
        dl.record(1, "bad", b"[1]").unwrap();
        dl.begin_stream(5, "too big").unwrap();
        dl.stream(b"xyz").unwrap();
        dl.end_stream().unwrap();
        assert!(dl.unsynced());
        // buffered: a kill -9 now would lose them, so no checkpoint may pass them yet
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        assert_eq!(dl.sync().unwrap(), 2);
        assert!(!dl.unsynced());
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        assert_eq!(dl.finish().unwrap(), 0);
        let _ = std::fs::remove_file(&path);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let path = temp_path("fifo");
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let mut dl = DeadLetter::new(path.clone(), "t".into());
        let err = dl.record(1, "bad", b"[1]").unwrap_err();
        let _ = std::fs::remove_file(&path);
        assert!(matches!(err, Error::DeadLetter { .. }), "{err}");
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

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
        assert_eq!(streamed_bytes(&lines[0]), data);
        assert_eq!(lines[1]["raw"], "{\"a\":\u{1}}");
    }
}
