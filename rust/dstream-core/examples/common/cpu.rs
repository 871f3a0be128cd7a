//! Thread CPU time, for the examples that time a loop: the machine may be shared, and
//! wall time would count the turns of other processes. Included with `#[path]` (this
//! directory has no `main.rs`: cargo builds no example of it).

/// Seconds of CPU time the calling thread has spent.
#[cfg(unix)]
pub fn cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Elsewhere, seconds of wall time since the first call.
#[cfg(not(unix))]
pub fn cpu() -> f64 {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64()
}
