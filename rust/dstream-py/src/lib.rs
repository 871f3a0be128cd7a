//! dstream._core: a thin PyO3 binding over dstream-core.
//!
//! Only fds, byte slices, options and counters cross this border. The contract is
//! python/dstream/_core.pyi. Every blocking call goes through [`blocking`], which
//! releases the GIL in short slices and checks for signals between them.

mod json;
mod pgoutput;

use dstream_core as dc;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// How long the GIL stays released before signals are checked again.
const SLICE: Duration = Duration::from_millis(50);

/// The one place where core errors become Python exceptions.
fn to_py_err(e: dc::Error) -> PyErr {
    match e {
        dc::Error::Config(m) => PyValueError::new_err(m),
        e @ dc::Error::Io { .. } => PyOSError::new_err(e.to_string()),
        e => PyRuntimeError::new_err(e.to_string()),
    }
}

/// Runs `step` with the GIL released, one slice at a time, until it yields a value.
/// Between slices it checks for signals; on an exception (KeyboardInterrupt) it calls
/// `on_interrupt` (also without the GIL) and propagates the exception.
fn blocking<T, S, I>(py: Python<'_>, mut step: S, on_interrupt: I) -> PyResult<T>
where
    T: Send,
    S: FnMut(Duration) -> Option<T> + Send,
    I: FnOnce() + Send,
{
    loop {
        if let Some(v) = py.detach(|| step(SLICE)) {
            return Ok(v);
        }
        if let Err(e) = py.check_signals() {
            py.detach(on_interrupt);
            return Err(e);
        }
    }
}

/// How a pump treats frames (see _core.pyi).
#[pyclass(frozen, module = "dstream._core")]
struct PumpOptions {
    inner: dc::Options,
    policy: &'static str,
}

#[pymethods]
impl PumpOptions {
    #[new]
    #[pyo3(signature = (
        *,
        max_frame_size = dc::DEFAULT_MAX_FRAME_SIZE,
        policy = "fail",
        dead_letter_path = None,
        validate = true,
        count_tables = true,
        read_buffer_size = 1 << 18,
        start_offset = 0,
        task = String::new(),
        validate_threads = 1,
        pipe_size = dc::pump::DEFAULT_PIPE_SIZE,
        zero_copy = true,
        batch_scheduling = true,
        legacy_logs = false,
        forward_checkpoints = true,
        input_pid = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        max_frame_size: usize,
        policy: &str,
        dead_letter_path: Option<PathBuf>,
        validate: bool,
        count_tables: bool,
        read_buffer_size: usize,
        start_offset: u64,
        task: String,
        validate_threads: usize,
        pipe_size: usize,
        zero_copy: bool,
        batch_scheduling: bool,
        legacy_logs: bool,
        forward_checkpoints: bool,
        input_pid: Option<u32>,
    ) -> PyResult<PumpOptions> {
        let p: dc::Policy = policy.parse().map_err(to_py_err)?;
        let inner = dc::Options {
            max_frame_size,
            policy: p,
            dead_letter_path,
            validate,
            count_tables,
            read_buffer_size,
            start_offset,
            task,
            validate_threads,
            pipe_size,
            zero_copy,
            batch_scheduling,
            legacy_logs,
            forward_checkpoints,
            input_pid,
        };
        inner.check().map_err(to_py_err)?;
        let policy = match p {
            dc::Policy::Fail => "fail",
            dc::Policy::Skip => "skip",
            dc::Policy::DeadLetter => "dead_letter",
        };
        Ok(PumpOptions { inner, policy })
    }

    #[getter]
    fn max_frame_size(&self) -> usize {
        self.inner.max_frame_size
    }
    #[getter]
    fn policy(&self) -> &'static str {
        self.policy
    }
    #[getter]
    fn dead_letter_path(&self) -> Option<String> {
        self.inner
            .dead_letter_path
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
    }
    #[getter]
    fn validate(&self) -> bool {
        self.inner.validate
    }
    #[getter]
    fn count_tables(&self) -> bool {
        self.inner.count_tables
    }
    #[getter]
    fn read_buffer_size(&self) -> usize {
        self.inner.read_buffer_size
    }
    #[getter]
    fn start_offset(&self) -> u64 {
        self.inner.start_offset
    }
    #[getter]
    fn task(&self) -> &str {
        &self.inner.task
    }
    #[getter]
    fn validate_threads(&self) -> usize {
        self.inner.validate_threads
    }
    #[getter]
    fn pipe_size(&self) -> usize {
        self.inner.pipe_size
    }
    #[getter]
    fn zero_copy(&self) -> bool {
        self.inner.zero_copy
    }
    #[getter]
    fn batch_scheduling(&self) -> bool {
        self.inner.batch_scheduling
    }
    #[getter]
    fn legacy_logs(&self) -> bool {
        self.inner.legacy_logs
    }
    #[getter]
    fn forward_checkpoints(&self) -> bool {
        self.inner.forward_checkpoints
    }

    #[getter]
    fn input_pid(&self) -> Option<u32> {
        self.inner.input_pid
    }

    fn __repr__(&self) -> String {
        let o = &self.inner;
        format!(
            "PumpOptions(max_frame_size={}, policy={:?}, dead_letter_path={:?}, validate={}, count_tables={}, read_buffer_size={}, start_offset={}, task={:?}, validate_threads={}, pipe_size={}, zero_copy={}, batch_scheduling={})",
            o.max_frame_size,
            self.policy,
            o.dead_letter_path,
            if o.validate { "True" } else { "False" },
            if o.count_tables { "True" } else { "False" },
            o.read_buffer_size,
            o.start_offset,
            o.task,
            o.validate_threads,
            o.pipe_size,
            if o.zero_copy { "True" } else { "False" },
            if o.batch_scheduling { "True" } else { "False" }
        )
    }
}

/// The binding's `Counters` class: one attribute per counter of
/// [`dc::counters::COUNTERS`] (the list lives in dstream-core: [`dc::with_counters`]).
macro_rules! py_counters {
    ($($name:ident: $help:literal,)*) => {
        /// A consistent snapshot of a pump's counters.
        #[pyclass(frozen, module = "dstream._core")]
        struct Counters {
            $(#[doc = $help] #[pyo3(get)] $name: u64,)*
            table_counts: Vec<(String, u64)>,
        }

        impl From<dc::Snapshot> for Counters {
            fn from(s: dc::Snapshot) -> Counters {
                Counters {
                    $($name: s.$name,)*
                    table_counts: s.tables,
                }
            }
        }

        impl Counters {
            /// Every counter as (name, value), in `COUNTERS` order.
            fn values(&self) -> [(&'static str, u64); dc::counters::COUNTERS.len()] {
                [$((stringify!($name), self.$name)),*]
            }
        }
    };
}

dc::with_counters!(py_counters);

#[pymethods]
impl Counters {
    /// Data frames per metadata.TableName.
    #[getter]
    fn tables<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.table_counts {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, value) in self.values() {
            d.set_item(name, value)?;
        }
        d.set_item("tables", self.tables(py)?)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let values = self.values().map(|(name, value)| format!("{name}={value}"));
        let tables = self.table_counts.iter().map(|(k, v)| format!("{k:?}: {v}"));
        format!(
            "Counters({}, tables={{{}}})",
            values.join(", "),
            tables.collect::<Vec<_>>().join(", ")
        )
    }
}

/// How a run ended.
#[pyclass(frozen, module = "dstream._core")]
struct PumpResult {
    #[pyo3(get)]
    outcome: &'static str,
    #[pyo3(get)]
    counters: Py<Counters>,
    #[pyo3(get)]
    message: Option<String>,
    #[pyo3(get)]
    offset: Option<u64>,
    excerpt_bytes: Option<Vec<u8>>,
    /// The invalid frame that ended the run was longer than max_frame_size.
    #[pyo3(get)]
    oversized: bool,
    /// (stream offset, length) of a crashed input's torn last line, dropped.
    #[pyo3(get)]
    torn: Option<(u64, u64)>,
    /// Bytes of the input read after the last one dealt with: never delivered.
    #[pyo3(get)]
    undealt: u64,
    /// Bytes at the head of the input pipe already read (zero-copy peeks).
    #[pyo3(get)]
    peeked: u64,
}

#[pymethods]
impl PumpResult {
    /// First bytes (at most 120) of the offending frame.
    #[getter]
    fn excerpt<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.excerpt_bytes.as_ref().map(|b| PyBytes::new(py, b))
    }

    fn __repr__(&self) -> String {
        format!(
            "PumpResult(outcome={:?}, message={:?}, offset={:?})",
            self.outcome, self.message, self.offset
        )
    }
}

/// Moves frames from input_fd to output_fd (see _core.pyi).
#[pyclass(frozen, module = "dstream._core")]
struct Pump {
    handle: dc::Handle,
    inner: Mutex<Option<dc::Pump>>,
}

#[pymethods]
impl Pump {
    #[new]
    #[pyo3(signature = (input_fd, output_fd, options, prefix = b"".as_slice()))]
    fn new(
        input_fd: i32,
        output_fd: i32,
        options: PyRef<'_, PumpOptions>,
        prefix: &[u8],
    ) -> PyResult<Pump> {
        let pump =
            dc::Pump::new(input_fd, output_fd, options.inner.clone(), prefix).map_err(to_py_err)?;
        Ok(Pump {
            handle: pump.handle(),
            inner: Mutex::new(Some(pump)),
        })
    }

    /// Blocks until the stream ends. Releases the GIL. May be called once.
    fn run(&self, py: Python<'_>) -> PyResult<PumpResult> {
        let taken = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut pump) = taken else {
            return Err(PyRuntimeError::new_err(
                "Pump.run() may be called only once",
            ));
        };
        let pump_ref = &mut pump;
        let res = {
            let cell = std::sync::Mutex::new(pump_ref);
            blocking(
                py,
                |slice| {
                    cell.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .run_for(Some(slice))
                },
                || {
                    cell.lock().unwrap_or_else(|e| e.into_inner()).abort();
                },
            )?
        };
        Ok(PumpResult {
            outcome: res.outcome.as_str(),
            counters: Py::new(py, Counters::from(res.counters))?,
            message: res.message,
            offset: res.offset,
            excerpt_bytes: res.excerpt,
            oversized: res.oversized,
            torn: res.torn.map(|t| (t.offset, t.len)),
            undealt: res.undealt,
            peeked: res.peeked,
        })
    }

    /// Thread-safe: makes run() return promptly with outcome "stopped".
    fn stop(&self) {
        self.handle.stop();
    }

    /// Thread-safe: the stream ends, as at EOF, once the input has nothing more to read.
    fn end_input(&self) {
        self.handle.end_input();
    }

    /// Thread-safe: nothing is forwarded from `deadline` on (seconds on time.monotonic()'s
    /// clock; None: no deadline), and run() ends with outcome "deadline_passed".
    #[pyo3(signature = (deadline))]
    fn set_deadline(&self, py: Python<'_>, deadline: Option<f64>) -> PyResult<()> {
        let at = match deadline {
            None => None,
            Some(s) if s.is_finite() => Some(on_core_clock(py, s)?),
            Some(s) => {
                return Err(PyValueError::new_err(format!(
                    "a pump's deadline must be a finite time.monotonic() value, not {s}"
                )))
            }
        };
        self.handle.set_deadline(at);
        Ok(())
    }

    /// Thread-safe live snapshot.
    fn counters(&self) -> Counters {
        self.handle.counters().into()
    }

    /// Thread-safe: seconds the run has been waiting for the output to take bytes (its
    /// pipe full); None while it does not wait on the output.
    fn output_stalled_for(&self) -> Option<f64> {
        self.handle.output_stalled_for().map(|d| d.as_secs_f64())
    }

    /// Checkpoint frames forwarded to the output since the last call, in stream order.
    fn take_checkpoints<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let cps = self.handle.take_checkpoints();
        PyList::new(py, cps.iter().map(|c| PyBytes::new(py, c)))
    }

    /// Thread-safe: `count` more of the checkpoints take_checkpoints() handed out were
    /// acknowledged (room for as many more in flight: MAX_IN_FLIGHT_CHECKPOINTS).
    fn acknowledged(&self, count: u64) {
        self.handle.acknowledged(count);
    }

    /// Thread-safe: whether checkpoint frames queued from now on reach the output.
    fn set_forward_checkpoints(&self, forward: bool) {
        self.handle.set_forward_checkpoints(forward);
    }

    /// A legacy input's log lines (options.legacy_logs) read since the last call:
    /// (its first bytes, its whole length).
    fn take_log_lines<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let lines = self.handle.take_log_lines();
        PyList::new(
            py,
            lines
                .iter()
                .map(|(kept, total)| (PyBytes::new(py, kept), *total)),
        )
    }

    /// A legacy input's frames that may be a status line, read since the last call:
    /// (stream offset, frame), each delivered like any other.
    fn take_status_lines<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let lines = self.handle.take_status_lines();
        PyList::new(
            py,
            lines
                .iter()
                .map(|(offset, raw)| (*offset, PyBytes::new(py, raw))),
        )
    }
}

/// A time.monotonic() value as a point on the core's deadline clock
/// ([`dc::sys::monotonic`]). On Unix it is the same clock: taken as it is, with no
/// conversion a pause could fall into (a deadline must never move later).
#[cfg(unix)]
fn on_core_clock(_py: Python<'_>, seconds: f64) -> PyResult<Duration> {
    Ok(Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX))
}

/// Windows: time.monotonic() reads another counter than the core; the deadline is
/// carried over as the time left until it, read on both clocks one after the other:
/// the core's first, so that a pause between the two reads moves it earlier, never later.
#[cfg(windows)]
fn on_core_clock(py: Python<'_>, seconds: f64) -> PyResult<Duration> {
    let core_now = dc::sys::monotonic();
    let now: f64 = py.import("time")?.call_method0("monotonic")?.extract()?;
    let left = seconds - now;
    Ok(if left >= 0.0 {
        core_now.saturating_add(Duration::try_from_secs_f64(left).unwrap_or(Duration::MAX))
    } else {
        core_now.saturating_sub(Duration::try_from_secs_f64(-left).unwrap_or(Duration::MAX))
    })
}

/// `haystack.find(needle, start, end)` with SIMD; see dstream_core::find.
#[pyfunction]
#[pyo3(signature = (haystack, needle, start = 0, end = None))]
fn find(haystack: &[u8], needle: &[u8], start: usize, end: Option<usize>) -> isize {
    match dc::find(haystack, needle, start, end.unwrap_or(usize::MAX)) {
        Some(i) => i as isize,
        None => -1,
    }
}

/// The exact bytes of the `checkpoint` member's value in `line` when it is a valid
/// JSON object with one (other members ignored), else None; see dstream_core::validate::member.
#[pyfunction]
fn checkpoint_value<'py>(py: Python<'py>, line: &[u8]) -> Option<Bound<'py, PyBytes>> {
    let info = dc::validate::validate(line).ok()?;
    if !info.has_checkpoint {
        return None;
    }
    let (a, b) = dc::validate::member(line, dc::frame::KEY_CHECKPOINT)?;
    Some(PyBytes::new(py, &line[a..b]))
}

/// PR_SET_PDEATHSIG: SIGKILL when the thread that forked this process exits; true
/// when it took (Linux). See dstream_core::sys::die_with_parent.
#[pyfunction]
fn die_with_parent() -> bool {
    dc::sys::die_with_parent()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("PROTOCOL_VERSION", dc::PROTOCOL_VERSION)?;
    m.add("DEFAULT_MAX_FRAME_SIZE", dc::DEFAULT_MAX_FRAME_SIZE)?;
    // Where the pump cuts what it hands Python, which masks a secret's start at a cut.
    m.add("EXCERPT_LEN", dc::pump::EXCERPT_LEN)?;
    m.add("LOG_LINE_LEN", dc::pump::LOG_LINE_LEN)?;
    m.add(
        "MAX_IN_FLIGHT_CHECKPOINTS",
        dc::pump::MAX_IN_FLIGHT_CHECKPOINTS,
    )?;
    let info = PyDict::new(py);
    info.set_item("rustc", env!("DSTREAM_BUILD_RUSTC"))?;
    info.set_item("target", env!("DSTREAM_BUILD_TARGET"))?;
    info.set_item("profile", env!("DSTREAM_BUILD_PROFILE"))?;
    let mut features = vec!["validate", "dead_letter"];
    if cfg!(unix) {
        features.push("poll-stop");
    }
    if cfg!(target_os = "linux") {
        features.push("splice");
        features.push("eventfd");
    }
    info.set_item("features", features.join(","))?;
    info.set_item("core_version", env!("CARGO_PKG_VERSION"))?;
    m.add("BUILD_INFO", info)?;
    m.add_class::<PumpOptions>()?;
    let counters = dc::counters::COUNTERS
        .iter()
        .map(|&(name, help)| (name, help));
    m.add("COUNTERS", PyTuple::new(py, counters)?)?;
    m.add_class::<Counters>()?;
    m.add_class::<PumpResult>()?;
    m.add_class::<Pump>()?;
    m.add_function(wrap_pyfunction!(find, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint_value, m)?)?;
    m.add_function(wrap_pyfunction!(die_with_parent, m)?)?;
    pgoutput::register(m)?;
    json::register(m)?;
    Ok(())
}
