//! Every `unsafe` block and every libc call of the crate lives here.
//!
//! Unix: fds are switched to O_NONBLOCK for the duration of a run (restored on drop)
//! and every wait goes through poll(2) together with a wake fd (eventfd on Linux, a
//! self-pipe elsewhere), so `stop()` interrupts a run blocked on an idle input or a
//! stalled output. Linux additionally gets splice(2) for passthrough.
//!
//! Windows: CRT read/write on blocking fds; `stop()` is honoured between reads and
//! writes only (a read blocked on an idle pipe returns when the writer writes or exits).

use std::io;
use std::io::IoSlice;
use std::time::Duration;

pub type Fd = i32;

/// Result of waiting for an fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The fd is ready (or in an error/hangup state: the next syscall will tell).
    Ready,
    /// The wake fd fired: stop was requested.
    Woken,
    /// The timeout passed.
    Timeout,
    /// A signal interrupted the wait (EINTR): the caller should check signals.
    Interrupted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
}

/// Reads into `buf`. `Ok(0)` is EOF. WouldBlock / Interrupted are returned as errors.
pub fn read(fd: Fd, buf: &mut [u8]) -> io::Result<usize> {
    imp::read(fd, buf)
}

/// Gathers `bufs` into one write. Returns bytes written.
pub fn writev(fd: Fd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    imp::writev(fd, bufs)
}

/// Waits until `fd` is ready for `interest`, the waker fires or `timeout` passes.
pub fn wait(
    fd: Fd,
    interest: Interest,
    waker: &Waker,
    timeout: Option<Duration>,
) -> io::Result<Wait> {
    imp::wait(fd, interest, waker, timeout)
}

/// True when `fd` is ready for `interest` right now (never blocks).
pub fn ready_now(fd: Fd, interest: Interest) -> bool {
    imp::ready_now(fd, interest)
}

pub use imp::{NonBlockGuard, Waker};

/// splice(2) from `input` to `output`, nonblocking. Unsupported elsewhere.
#[cfg(target_os = "linux")]
pub fn splice(input: Fd, output: Fd, len: usize) -> io::Result<usize> {
    // SAFETY: splice only reads the fds and the null offset pointers mean "use the
    // file position"; no memory of ours is touched.
    let n = unsafe {
        libc::splice(
            input,
            std::ptr::null_mut(),
            output,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// tee(2): duplicates up to `len` bytes from the head of pipe `input` into pipe
/// `output` without consuming them, nonblocking.
#[cfg(target_os = "linux")]
pub fn tee(input: Fd, output: Fd, len: usize) -> io::Result<usize> {
    // SAFETY: tee only takes fds and flags; no memory of ours is touched.
    let n = unsafe { libc::tee(input, output, len, libc::SPLICE_F_NONBLOCK) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// True when `fd` is a pipe or FIFO.
#[cfg(target_os = "linux")]
pub fn is_pipe(fd: Fd) -> bool {
    // SAFETY: `st` is a valid stat struct for fstat to fill; a bad fd yields -1.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFIFO
    }
}

/// Kernel buffer size of a pipe (F_GETPIPE_SZ), None for anything else.
#[cfg(target_os = "linux")]
pub fn pipe_size(fd: Fd) -> Option<usize> {
    // SAFETY: F_GETPIPE_SZ takes no argument; on a non-pipe fd it fails.
    let n = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
    (n > 0).then_some(n as usize)
}

/// An fd owned by this value and closed when it is dropped.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub struct OwnedFd(pub Fd);

#[cfg(target_os = "linux")]
impl Drop for OwnedFd {
    fn drop(&mut self) {
        // SAFETY: the fd was created for this value and nothing else closes it.
        unsafe {
            libc::close(self.0);
        }
    }
}

/// A new nonblocking, close-on-exec pipe: (read end, write end).
#[cfg(target_os = "linux")]
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2(2) to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((OwnedFd(fds[0]), OwnedFd(fds[1])))
}

/// /dev/null opened for writing (close-on-exec).
#[cfg(target_os = "linux")]
pub fn open_dev_null() -> io::Result<OwnedFd> {
    // SAFETY: the path is a valid NUL-terminated C string; open takes no other pointer.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(OwnedFd(fd))
    }
}

/// A pidfd for `pid` (Linux 5.3+, close-on-exec): readable once the process exited.
#[cfg(target_os = "linux")]
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, no pointer.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(OwnedFd(fd as Fd))
    }
}

/// Whether the child `pid` crashed (was killed by a signal or exited non-zero), read
/// without reaping it (WNOWAIT: its parent still collects the status). None while it
/// runs, or when its status is gone (already reaped).
#[cfg(target_os = "linux")]
pub fn child_crashed(pid: u32) -> Option<bool> {
    // SAFETY: siginfo_t is plain data; waitid fills it and reads nothing else.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is a valid siginfo_t for waitid to fill.
    if unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) } < 0 {
        return None;
    }
    // SAFETY: after a successful waitid for WEXITED these fields are set (or si_pid 0).
    let (who, status) = unsafe { (info.si_pid(), info.si_status()) };
    if who == 0 {
        return None;
    }
    Some(!(info.si_code == libc::CLD_EXITED && status == 0))
}

/// Grows the kernel buffer of a pipe to at least `size` bytes (F_SETPIPE_SZ); never
/// shrinks it. Best effort: not a pipe, over the system's limit → left as it is.
#[cfg(target_os = "linux")]
pub fn grow_pipe(fd: Fd, size: usize) {
    match pipe_size(fd) {
        Some(cur) if cur < size => {}
        _ => return,
    }
    let want = size.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: F_SETPIPE_SZ takes an int; failure (EPERM over the limit) is ignored.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, want);
    }
}

/// No pipe sizing outside Linux.
#[cfg(not(target_os = "linux"))]
pub fn grow_pipe(_fd: Fd, _size: usize) {}

/// Puts the calling thread under SCHED_BATCH until dropped, then restores its policy.
///
/// A pump thread wakes for every write of its input; under SCHED_OTHER each wake-up may
/// preempt the provider that is producing the data (the input itself, more often than
/// not, on a busy machine), which then waits for the CPU it just lost. SCHED_BATCH
/// drops only that wake-up preemption: the thread still gets its fair share, and runs
/// at once where a CPU is free. Only a thread under SCHED_OTHER is changed (one run
/// under a real-time or idle policy keeps it); no privilege is needed.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub struct BatchScheduling {
    tid: libc::pid_t,
}

/// The only priority SCHED_OTHER and SCHED_BATCH take.
#[cfg(target_os = "linux")]
const NO_PRIORITY: libc::sched_param = libc::sched_param { sched_priority: 0 };

#[cfg(target_os = "linux")]
impl BatchScheduling {
    pub fn enter() -> Option<BatchScheduling> {
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::pid_t;
        // SAFETY: sched_getscheduler reads the policy of thread `tid` (this one).
        if unsafe { libc::sched_getscheduler(tid) } != libc::SCHED_OTHER {
            return None;
        }
        // SAFETY: NO_PRIORITY is a valid sched_param for SCHED_BATCH.
        if unsafe { libc::sched_setscheduler(tid, libc::SCHED_BATCH, &NO_PRIORITY) } != 0 {
            return None;
        }
        Some(BatchScheduling { tid })
    }
}

#[cfg(target_os = "linux")]
impl Drop for BatchScheduling {
    fn drop(&mut self) {
        // SAFETY: puts thread `tid` back under SCHED_OTHER (the policy `enter` found; its
        // priority is always 0); if the thread is gone the call fails harmlessly.
        unsafe {
            libc::sched_setscheduler(self.tid, libc::SCHED_OTHER, &NO_PRIORITY);
        }
    }
}

/// Asks the kernel to SIGKILL the calling process when the thread that created it
/// exits (PR_SET_PDEATHSIG); true when it took. Called in a provider forked by a warm
/// start (python/dstream/warm.py) between fork and exec, where setpriv(1) would cost an
/// exec more; the caller then checks that its parent is still the one that forked it.
#[cfg(target_os = "linux")]
pub fn die_with_parent() -> bool {
    // SAFETY: prctl with integer arguments only; async-signal-safe, as between fork and
    // exec it must be.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) == 0 }
}

/// No parent-death signal outside Linux.
#[cfg(not(target_os = "linux"))]
pub fn die_with_parent() -> bool {
    false
}

/// The clock a pump's deadline is on ([`crate::pump::Handle::set_deadline`]): the one
/// Python's `time.monotonic()` reads, so that a deadline the runtime computed with it is
/// compared like with like, to the nanosecond. CLOCK_MONOTONIC on Linux and the other
/// Unixes; CLOCK_UPTIME_RAW on macOS (CPython reads mach_absolute_time there, the same
/// count). It does not advance while the machine is suspended, as time.monotonic()
/// does not. On Linux a vDSO call, no syscall.
#[cfg(all(unix, not(target_vendor = "apple")))]
const DEADLINE_CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;
#[cfg(target_vendor = "apple")]
const DEADLINE_CLOCK: libc::clockid_t = libc::CLOCK_UPTIME_RAW;

/// Now on [`DEADLINE_CLOCK`], since its (boot-time) origin.
#[cfg(unix)]
pub fn monotonic() -> Duration {
    // SAFETY: timespec is plain data; clock_gettime fills it and takes no other pointer.
    // The clock id is one this platform has, so it cannot fail (EINVAL/EFAULT only).
    let ts = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(DEADLINE_CLOCK, &mut ts);
        ts
    };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Windows: time since the first call in this process. CPython's time.monotonic() reads
/// another counter there (GetTickCount64 before 3.13), so the binding converts a
/// deadline given on it to this clock when it is set (python's now vs this now).
#[cfg(windows)]
pub fn monotonic() -> Duration {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(std::time::Instant::now).elapsed()
}

/// True when `e` means "the reading side of the output is gone".
pub fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

#[cfg(unix)]
mod imp {
    use super::{Fd, Interest, Wait};
    use std::io;
    use std::io::IoSlice;
    use std::time::Duration;

    pub fn read(fd: Fd, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is a valid, exclusively borrowed region of `buf.len()` bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    pub fn writev(fd: Fd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let cnt = bufs.len().min(1024) as libc::c_int;
        // SAFETY: std guarantees IoSlice is ABI-compatible with `struct iovec` on unix;
        // the slices are borrowed for the duration of the call and at most IOV_MAX
        // (1024 on Linux and macOS) entries are passed.
        let n = unsafe { libc::writev(fd, bufs.as_ptr().cast::<libc::iovec>(), cnt) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<libc::c_int> {
        let ms: libc::c_int = match timeout {
            None => -1,
            Some(d) => {
                // round up so a short remaining slice does not become a busy loop
                let ms = d.as_micros().div_ceil(1000);
                ms.min(i32::MAX as u128) as libc::c_int
            }
        };
        // SAFETY: `fds` is a valid mutable array of `fds.len()` pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n)
        }
    }

    fn events(i: Interest) -> libc::c_short {
        match i {
            Interest::Read => libc::POLLIN,
            Interest::Write => libc::POLLOUT,
        }
    }

    pub fn wait(
        fd: Fd,
        interest: Interest,
        waker: &Waker,
        timeout: Option<Duration>,
    ) -> io::Result<Wait> {
        let mut fds = [
            libc::pollfd {
                fd,
                events: events(interest),
                revents: 0,
            },
            libc::pollfd {
                fd: waker.read_fd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        match poll(&mut fds, timeout) {
            Ok(0) => Ok(Wait::Timeout),
            Ok(_) if fds[1].revents != 0 => Ok(Wait::Woken),
            Ok(_) => Ok(Wait::Ready),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Wait::Interrupted),
            Err(e) => Err(e),
        }
    }

    pub fn ready_now(fd: Fd, interest: Interest) -> bool {
        let mut fds = [libc::pollfd {
            fd,
            events: events(interest),
            revents: 0,
        }];
        matches!(poll(&mut fds, Some(Duration::ZERO)), Ok(n) if n > 0)
    }

    fn get_flags(fd: Fd) -> io::Result<libc::c_int> {
        // SAFETY: F_GETFL takes no pointer argument; an invalid fd yields EBADF.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if fl < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(fl)
        }
    }

    fn set_flags(fd: Fd, fl: libc::c_int) -> io::Result<()> {
        // SAFETY: F_SETFL takes an int argument; an invalid fd yields EBADF.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, fl) } < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Sets O_NONBLOCK on an fd for its lifetime and restores the old flags on drop.
    #[derive(Debug)]
    pub struct NonBlockGuard {
        fd: Fd,
        old: libc::c_int,
    }

    impl NonBlockGuard {
        pub fn new(fd: Fd) -> io::Result<NonBlockGuard> {
            let old = get_flags(fd)?;
            if old & libc::O_NONBLOCK == 0 {
                set_flags(fd, old | libc::O_NONBLOCK)?;
            }
            Ok(NonBlockGuard { fd, old })
        }
    }

    impl Drop for NonBlockGuard {
        fn drop(&mut self) {
            if self.old & libc::O_NONBLOCK == 0 {
                let _ = set_flags(self.fd, self.old);
            }
        }
    }

    /// Wakes a poll(2) from another thread: eventfd on Linux, a self-pipe elsewhere.
    #[derive(Debug)]
    pub struct Waker {
        read_fd: Fd,
        write_fd: Fd,
    }

    impl Waker {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        pub fn new() -> io::Result<Waker> {
            // SAFETY: eventfd takes no pointers; returns a new fd or -1.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Waker {
                read_fd: fd,
                write_fd: fd,
            })
        }

        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        pub fn new() -> io::Result<Waker> {
            let mut fds = [0 as libc::c_int; 2];
            // SAFETY: `fds` is a valid array of two ints for pipe(2) to fill.
            if unsafe { libc::pipe(fds.as_mut_ptr()) } < 0 {
                return Err(io::Error::last_os_error());
            }
            for fd in fds {
                // SAFETY: fd was just returned by pipe(2); F_SETFD/F_SETFL take ints.
                unsafe {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                    let fl = libc::fcntl(fd, libc::F_GETFL);
                    libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
                }
            }
            Ok(Waker {
                read_fd: fds[0],
                write_fd: fds[1],
            })
        }

        /// Makes every current and future wait on this waker return `Woken`. Never blocks.
        pub fn wake(&self) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a valid local; for a pipe a short or failed
            // write (EAGAIN when already full of wakes) is harmless.
            unsafe {
                libc::write(self.write_fd, (&one as *const u64).cast(), 8);
            }
        }

        /// Takes back every wake so far: waits block again until the next `wake`. Never
        /// blocks (the read end is non-blocking).
        pub fn drain(&self) {
            let mut sink = [0u8; 64];
            // SAFETY: reads into a valid local buffer of its length; EAGAIN ends it.
            while unsafe { libc::read(self.read_fd, sink.as_mut_ptr().cast(), sink.len()) } > 0 {}
        }
    }

    impl Drop for Waker {
        fn drop(&mut self) {
            // SAFETY: these fds were created by Waker::new and are owned by it.
            unsafe {
                libc::close(self.read_fd);
                if self.write_fd != self.read_fd {
                    libc::close(self.write_fd);
                }
            }
        }
    }
}

#[cfg(windows)]
mod imp {
    use super::{Fd, Interest, Wait};
    use std::io;
    use std::io::IoSlice;
    use std::time::Duration;

    pub fn read(fd: Fd, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len().min(i32::MAX as usize) as libc::c_uint;
        // SAFETY: `buf` is a valid, exclusively borrowed region of at least `len` bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), len) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    pub fn writev(fd: Fd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // No gather write on CRT fds: write the first non-empty slice.
        let Some(b) = bufs.iter().find(|b| !b.is_empty()) else {
            return Ok(0);
        };
        let len = b.len().min(i32::MAX as usize) as libc::c_uint;
        // SAFETY: `b` is a valid borrowed region of at least `len` bytes.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), len) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    pub fn wait(_fd: Fd, _i: Interest, waker: &Waker, _t: Option<Duration>) -> io::Result<Wait> {
        if waker.woken.load(std::sync::atomic::Ordering::Acquire) {
            Ok(Wait::Woken)
        } else {
            Ok(Wait::Ready)
        }
    }

    pub fn ready_now(_fd: Fd, _i: Interest) -> bool {
        true
    }

    /// Windows fds stay blocking (documented limitation).
    #[derive(Debug)]
    pub struct NonBlockGuard;

    impl NonBlockGuard {
        pub fn new(_fd: Fd) -> io::Result<NonBlockGuard> {
            Ok(NonBlockGuard)
        }
    }

    #[derive(Debug, Default)]
    pub struct Waker {
        woken: std::sync::atomic::AtomicBool,
    }

    impl Waker {
        pub fn new() -> io::Result<Waker> {
            Ok(Waker::default())
        }

        pub fn wake(&self) {
            self.woken.store(true, std::sync::atomic::Ordering::Release);
        }

        pub fn drain(&self) {
            self.woken
                .store(false, std::sync::atomic::Ordering::Release);
        }
    }
}

/// Bit mask of the bytes of `chunk` that are `"`, `\` or < 0x20 (bit i = byte i).
/// SSE2 is part of the x86_64 baseline, so no run-time detection is needed.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn special_mask16(chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is always available on x86_64; the unaligned load reads exactly the
    // 16 bytes of `chunk`.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let q = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let b = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        let x1f = _mm_set1_epi8(0x1f);
        let c = _mm_cmpeq_epi8(_mm_max_epu8(v, x1f), x1f); // v <= 0x1f
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(q, b), c)) as u32
    }
}

/// Scans from `i` 32 bytes per step with AVX2 for the first `"`, `\` or byte < 0x20:
/// returns its index, or where fewer than 32 bytes remained unscanned (the caller
/// finishes from there). None when the CPU has no AVX2 (std caches the CPUID answer).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn find_special_avx2(s: &[u8], i: usize) -> Option<usize> {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return None;
    }
    // SAFETY: AVX2 was detected on this CPU just above.
    Some(unsafe { find_special_avx2_impl(s, i) })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn find_special_avx2_impl(s: &[u8], mut i: usize) -> usize {
    use std::arch::x86_64::*;
    let quote = _mm256_set1_epi8(b'"' as i8);
    let backslash = _mm256_set1_epi8(b'\\' as i8);
    let x1f = _mm256_set1_epi8(0x1f);
    while i + 32 <= s.len() {
        // SAFETY: the loop condition keeps the unaligned 32-byte load inside `s`.
        let v = unsafe { _mm256_loadu_si256(s.as_ptr().add(i).cast::<__m256i>()) };
        let q = _mm256_cmpeq_epi8(v, quote);
        let b = _mm256_cmpeq_epi8(v, backslash);
        let c = _mm256_cmpeq_epi8(_mm256_max_epu8(v, x1f), x1f);
        let m = _mm256_movemask_epi8(_mm256_or_si256(_mm256_or_si256(q, b), c)) as u32;
        if m != 0 {
            return i + m.trailing_zeros() as usize;
        }
        i += 32;
    }
    i
}
