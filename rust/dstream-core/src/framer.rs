//! Splits a byte stream into newline-terminated frames inside one reusable buffer.
//!
//! - frames may be split across reads at any byte;
//! - `\r\n` is accepted (the `\r` is not part of the frame);
//! - lines holding only JSON whitespace (within `max_frame_size`) are ignored;
//! - a final line without `\n` at EOF is a frame;
//! - a line longer than `max_frame_size` (not counting `\n` or a `\r` before it) is
//!   reported as [`Event::Oversized`] pieces while it streams by: the buffer never holds
//!   more than `max_frame_size + 1` bytes of one line plus one read.
//!
//! Ranges in events index [`Framer::buf`] and stay valid until the next
//! [`Framer::spare`] (which may move bytes to the front of the buffer).

use memchr::memchr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A complete frame: content `start..end` (no `\r`/`\n`). `nl` is true when
    /// `buf[end]` is the `\n` ending it (so `start..end+1` is the frame as it must be
    /// written); false after a stripped `\r` or for a final frame at EOF.
    Frame {
        start: usize,
        end: usize,
        nl: bool,
        offset: u64,
    },
    /// A piece `start..end` of an oversized line. `first` on its first piece, `last`
    /// with `total` (the line's length without `\n`) on its final piece.
    Oversized {
        start: usize,
        end: usize,
        offset: u64,
        first: bool,
        last: bool,
        total: u64,
    },
}

pub struct Framer {
    buf: Vec<u8>,
    filled: usize,
    start: usize,
    scan: usize,
    base: u64,
    max_frame: usize,
    read_size: usize,
    /// (offset, length so far) of the oversized line being skipped.
    discarding: Option<(u64, u64)>,
    eof: bool,
}

#[inline]
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&c| matches!(c, b' ' | b'\t' | b'\r'))
}

impl Framer {
    /// `base_offset` is the stream offset of the first byte; `prefix` holds bytes that
    /// come before anything read later.
    pub fn new(max_frame: usize, read_size: usize, base_offset: u64, prefix: &[u8]) -> Framer {
        let read_size = read_size.max(1);
        let cap = (prefix.len() + read_size).max(read_size);
        let mut buf = vec![0u8; cap];
        buf[..prefix.len()].copy_from_slice(prefix);
        Framer {
            buf,
            filled: prefix.len(),
            start: 0,
            scan: 0,
            base: base_offset,
            max_frame,
            read_size,
            discarding: None,
            eof: false,
        }
    }

    #[inline]
    pub fn buf(&self) -> &[u8] {
        &self.buf
    }

    /// The stream offset of the byte at `index` of [`Framer::buf`].
    #[inline]
    pub fn offset_of(&self, index: usize) -> u64 {
        self.base + index as u64
    }

    /// End of the bytes read so far (an index into [`Framer::buf`]).
    pub fn filled(&self) -> usize {
        self.filled
    }

    /// End (buffer index) of the complete lines not framed yet when they are all valid
    /// UTF-8, else their start: frames ending there need no UTF-8 check of their own
    /// (cutting valid UTF-8 at `\n` or `\r` leaves valid UTF-8).
    pub fn utf8_lines_end(&self) -> usize {
        let lines = &self.buf[self.start..self.filled];
        match memchr::memrchr(b'\n', lines) {
            Some(k) if simdutf8::basic::from_utf8(&lines[..k]).is_ok() => self.start + k,
            _ => self.start,
        }
    }

    /// Bytes currently held (the partial line).
    pub fn pending(&self) -> usize {
        self.filled - self.start
    }

    /// The unterminated last line held (the bytes after the last newline, once every
    /// complete line was framed): its stream offset and whether it holds more than
    /// blanks. None when there is none.
    pub fn tail(&self) -> Option<(u64, bool)> {
        let rest = &self.buf[self.start..self.filled];
        (self.discarding.is_none() && !rest.is_empty())
            .then(|| (self.base + self.start as u64, !is_blank(rest)))
    }

    /// Drops the unterminated last line (a crashed provider's torn write).
    pub fn discard_tail(&mut self) {
        self.start = self.filled;
        self.scan = self.filled;
    }

    /// Capacity of the buffer (for memory-bound tests).
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Room to read into (at least one byte; about `read_size`). Invalidates ranges.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.buf.len() - self.filled < self.read_size {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.filled, 0);
                self.base += self.start as u64;
                self.filled -= self.start;
                self.scan -= self.start;
                self.start = 0;
            }
            let need = self.filled + self.read_size;
            if need > self.buf.len() {
                let limit = self
                    .max_frame
                    .saturating_add(2)
                    .saturating_add(self.read_size);
                let new_len = need.max(self.buf.len().saturating_mul(2).min(limit));
                self.buf.resize(new_len, 0);
            }
        }
        &mut self.buf[self.filled..]
    }

    /// Records that `n` bytes were read into [`Framer::spare`].
    pub fn commit(&mut self, n: usize) {
        self.filled += n;
        debug_assert!(self.filled <= self.buf.len());
    }

    /// Consumes every buffered byte as raw data (passthrough): returns its range.
    pub fn take_raw(&mut self) -> (usize, usize) {
        let r = (self.start, self.filled);
        self.start = self.filled;
        self.scan = self.filled;
        r
    }

    /// Marks end of input: the partial line (if any) becomes the final frame.
    pub fn set_eof(&mut self) {
        self.eof = true;
    }

    /// Next event from the buffered bytes, or None when more input is needed (or, after
    /// [`Framer::set_eof`], when everything has been reported).
    #[inline]
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some((offset, len)) = self.discarding {
                let s = self.start;
                let (end, last) = match memchr(b'\n', &self.buf[s..self.filled]) {
                    Some(k) => (s + k, true),
                    None => (self.filled, self.eof),
                };
                if end == s && !last {
                    return None;
                }
                let total = len + (end - s) as u64;
                self.start = if last && end < self.filled {
                    end + 1
                } else {
                    end
                };
                self.scan = self.start;
                self.discarding = if last { None } else { Some((offset, total)) };
                return Some(Event::Oversized {
                    start: s,
                    end,
                    offset,
                    first: false,
                    last,
                    total,
                });
            }
            let s = self.start;
            match memchr(b'\n', &self.buf[self.scan..self.filled]) {
                Some(k) => {
                    let nl = self.scan + k;
                    self.start = nl + 1;
                    self.scan = self.start;
                    if let Some(ev) = self.line(s, nl, true) {
                        return Some(ev);
                    }
                }
                None => {
                    self.scan = self.filled;
                    let pending = self.filled - s;
                    if self.eof {
                        if pending == 0 {
                            return None;
                        }
                        self.start = self.filled;
                        if let Some(ev) = self.line(s, self.filled, false) {
                            return Some(ev);
                        }
                        return None;
                    }
                    if pending > self.max_frame.saturating_add(1) {
                        // no newline within max_frame + 1 bytes: oversized for sure
                        let offset = self.base + s as u64;
                        self.start = self.filled;
                        self.scan = self.filled;
                        self.discarding = Some((offset, pending as u64));
                        return Some(Event::Oversized {
                            start: s,
                            end: self.filled,
                            offset,
                            first: true,
                            last: false,
                            total: pending as u64,
                        });
                    }
                    return None;
                }
            }
        }
    }

    /// The next frame, when it starts right at the next unframed byte and `parse` can
    /// tell its length from its bytes (the pump passes the fast validation walk, which
    /// knows where a compact JSON object ends): if the line ends right after it, the
    /// frame is taken without searching for the newline, as [`Framer::next_event`]
    /// would have reported it. `lines_end` is [`Framer::utf8_lines_end`]: `parse` sees
    /// the bytes up to it (one or more complete lines), and the length it returns must
    /// span no `\n`. Returns the frame as `(start, end, nl, parsed)` with the meaning
    /// of [`Event::Frame`]'s fields; None: frame with [`Framer::next_event`].
    #[inline(always)]
    pub fn next_parsed<T>(
        &mut self,
        lines_end: usize,
        parse: impl FnOnce(&[u8]) -> Option<(usize, T)>,
    ) -> Option<(usize, usize, bool, T)> {
        let s = self.start;
        // a line partly searched already, or one being discarded, goes the usual way
        if s >= lines_end || self.scan != s || self.discarding.is_some() {
            return None;
        }
        let (len, parsed) = parse(&self.buf[s..=lines_end])?;
        let end = s + len;
        if len == 0 || len > self.max_frame {
            return None;
        }
        let (next, nl) = match self.buf[end..=lines_end] {
            [b'\n', ..] => (end + 1, true),
            [b'\r', b'\n', ..] => (end + 2, false),
            _ => return None,
        };
        self.start = next;
        self.scan = next;
        Some((s, end, nl, parsed))
    }

    /// A line `s..e` (e = index of `\n`, or end at EOF). None for blank lines.
    #[inline(always)]
    fn line(&mut self, s: usize, e: usize, has_nl: bool) -> Option<Event> {
        let mut end = e;
        if end > s && self.buf[end - 1] == b'\r' {
            end -= 1;
        }
        let offset = self.base + s as u64;
        let content = &self.buf[s..end];
        if content.is_empty() {
            return None;
        }
        // size first: a whitespace-only line longer than max_frame_size is oversized
        // (when streamed, it cannot be known to be blank without buffering it)
        if end - s > self.max_frame {
            return Some(Event::Oversized {
                start: s,
                end: e,
                offset,
                first: true,
                last: true,
                total: (e - s) as u64,
            });
        }
        if matches!(content[0], b' ' | b'\t' | b'\r') && is_blank(content) {
            return None;
        }
        Some(Event::Frame {
            start: s,
            end,
            nl: has_nl && end == e,
            offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames (content) and oversized totals from feeding `reads` one by one.
    pub fn run(
        max: usize,
        read_size: usize,
        prefix: &[u8],
        reads: &[&[u8]],
    ) -> Vec<Result<Vec<u8>, (u64, u64)>> {
        run_with(max, read_size, prefix, reads, false)
    }

    /// Stands in for the fast validation walk in [`Framer::next_parsed`]: a line
    /// starting with `{` ends at its first `}`.
    fn toy_parse(s: &[u8]) -> Option<(usize, ())> {
        if s.first() != Some(&b'{') {
            return None;
        }
        let k = s.iter().position(|&c| c == b'}' || c == b'\n')?;
        (s[k] == b'}').then_some((k + 1, ()))
    }

    /// [`run`], trying [`Framer::next_parsed`] before each event when `parsed`.
    pub fn run_with(
        max: usize,
        read_size: usize,
        prefix: &[u8],
        reads: &[&[u8]],
        parsed: bool,
    ) -> Vec<Result<Vec<u8>, (u64, u64)>> {
        let mut f = Framer::new(max, read_size, 0, prefix);
        let mut out = Vec::new();
        let mut over: Vec<u8> = Vec::new();
        let mut drain = |f: &mut Framer, out: &mut Vec<Result<Vec<u8>, (u64, u64)>>| loop {
            if parsed {
                let lines_end = f.utf8_lines_end();
                if let Some((start, end, nl, ())) = f.next_parsed(lines_end, toy_parse) {
                    assert_eq!(f.buf()[end], if nl { b'\n' } else { b'\r' });
                    out.push(Ok(f.buf()[start..end].to_vec()));
                    continue;
                }
            }
            let Some(ev) = f.next_event() else {
                break;
            };
            match ev {
                Event::Frame {
                    start,
                    end,
                    nl,
                    offset: _,
                } => {
                    if nl {
                        assert_eq!(f.buf()[end], b'\n');
                    }
                    out.push(Ok(f.buf()[start..end].to_vec()));
                }
                Event::Oversized {
                    start,
                    end,
                    offset,
                    first,
                    last,
                    total,
                } => {
                    if first {
                        over.clear();
                    }
                    over.extend_from_slice(&f.buf()[start..end]);
                    if last {
                        assert_eq!(over.len() as u64, total);
                        out.push(Err((offset, total)));
                    }
                }
            }
        };
        drain(&mut f, &mut out);
        for r in reads {
            let mut r: &[u8] = r;
            while !r.is_empty() {
                let sp = f.spare();
                let n = sp.len().min(r.len());
                sp[..n].copy_from_slice(&r[..n]);
                f.commit(n);
                r = &r[n..];
                drain(&mut f, &mut out);
            }
        }
        f.set_eof();
        drain(&mut f, &mut out);
        out
    }

    fn ok(s: &str) -> Result<Vec<u8>, (u64, u64)> {
        Ok(s.as_bytes().to_vec())
    }

    #[test]
    fn basics() {
        assert_eq!(run(100, 8, b"", &[]), vec![]);
        assert_eq!(run(100, 8, b"", &[b"a\nb\n"]), vec![ok("a"), ok("b")]);
        assert_eq!(
            run(100, 8, b"", &[b"a\r\n\r\n\n  \t\nb"]),
            vec![ok("a"), ok("b")]
        );
        assert_eq!(run(100, 8, b"a\n", &[b"b\n"]), vec![ok("a"), ok("b")]);
        assert_eq!(run(100, 8, b"xx", &[b"yy\nz"]), vec![ok("xxyy"), ok("z")]);
        assert_eq!(run(100, 8, b"", &[b"a\r"]), vec![ok("a")]);
        assert_eq!(run(100, 8, b"", &[b"\r\n"]), vec![]);
    }

    #[test]
    fn oversized_boundaries() {
        // exactly max: fine, with or without \r
        assert_eq!(run(4, 3, b"", &[b"abcd\nx\n"]), vec![ok("abcd"), ok("x")]);
        assert_eq!(run(4, 3, b"", &[b"abcd\r\nx\n"]), vec![ok("abcd"), ok("x")]);
        assert_eq!(run(4, 3, b"", &[b"abcd"]), vec![ok("abcd")]);
        // max + 1
        assert_eq!(run(4, 3, b"", &[b"abcde\nx\n"]), vec![Err((0, 5)), ok("x")]);
        assert_eq!(run(4, 3, b"", &[b"abcde"]), vec![Err((0, 5))]);
        assert_eq!(
            run(4, 100, b"", &[b"y\nabcdefghij\nx\n"]),
            vec![ok("y"), Err((2, 10)), ok("x")]
        );
        assert_eq!(
            run(4, 2, b"", &[b"y\nabcdefghij\nx\n"]),
            vec![ok("y"), Err((2, 10)), ok("x")]
        );
        assert_eq!(run(4, 2, b"", &[b"abcdefghij"]), vec![Err((0, 10))]);
    }

    #[test]
    fn memory_bound() {
        let mut f = Framer::new(1000, 64, 0, b"");
        for _ in 0..100_000 {
            let sp = f.spare();
            let n = sp.len();
            sp.fill(b'x');
            f.commit(n);
            while f.next_event().is_some() {}
            assert!(f.capacity() <= 1000 + 2 + 64 + 64, "{}", f.capacity());
        }
    }

    #[test]
    fn every_split_position() {
        let input: &[u8] =
            b"{\"a\":1}\r\n\n{\"b\":2}\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n{\"c\":3}";
        let whole = run(16, 4096, b"", &[input]);
        assert_eq!(whole.len(), 4);
        for i in 0..=input.len() {
            for j in i..=input.len() {
                for rs in [1, 3, 7, 64] {
                    let (a, rest) = input.split_at(i);
                    let (b, c) = rest.split_at(j - i);
                    assert_eq!(run(16, rs, b"", &[a, b, c]), whole, "split {i} {j} rs {rs}");
                    assert_eq!(run(16, rs, a, &[b, c]), whole, "prefix {i} {j} rs {rs}");
                    let parsed = run_with(16, rs, b"", &[a, b, c], true);
                    assert_eq!(parsed, whole, "parsed, split {i} {j} rs {rs}");
                }
            }
        }
    }

    /// Reference framing: split on \n, strip one \r, drop blank lines, classify size.
    fn reference(max: usize, input: &[u8]) -> Vec<Result<Vec<u8>, (u64, u64)>> {
        let mut out = Vec::new();
        let mut off = 0u64;
        let mut parts: Vec<&[u8]> = input.split(|&c| c == b'\n').collect();
        if parts.last().is_some_and(|l| l.is_empty()) {
            parts.pop();
        }
        for line in parts {
            let mut content = line;
            if content.last() == Some(&b'\r') {
                content = &content[..content.len() - 1];
            }
            if content.len() > max {
                out.push(Err((off, line.len() as u64)));
            } else if !is_blank(content) {
                out.push(Ok(content.to_vec()));
            }
            off += line.len() as u64 + 1;
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn any_split_same_frames(
            input in proptest::collection::vec(proptest::sample::select(b"ab{}\r\n \t".to_vec()), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..8),
            prefix_len in 0usize..50,
            max in 1usize..20,
            rs in 1usize..40,
        ) {
            let want = reference(max, &input);
            let p = prefix_len.min(input.len());
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.clamp(p, input.len())).collect();
            cuts.sort();
            let mut reads: Vec<&[u8]> = Vec::new();
            let mut last = p;
            for c in cuts {
                reads.push(&input[last..c]);
                last = c;
            }
            reads.push(&input[last..]);
            proptest::prop_assert_eq!(run(max, rs, &input[..p], &reads), want.clone());
            // taking frames by their parsed length frames the same
            proptest::prop_assert_eq!(run_with(max, rs, &input[..p], &reads, true), want);
        }
    }
}
