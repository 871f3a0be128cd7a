//! The one error type of the crate.

use std::fmt;
use std::io;

/// Everything that can end a pump run other than a clean EOF.
#[derive(Debug)]
pub enum Error {
    /// Options that cannot work (e.g. `dead_letter` without a path).
    Config(String),
    /// An I/O error on an fd; `context` says which.
    Io { context: String, source: io::Error },
    /// The dead-letter file cannot be opened, written or synced (a full disk, a path that
    /// is not a regular file, permissions): what it would hold is not safe, so the run
    /// ends before any checkpoint after it is forwarded.
    DeadLetter { context: String, source: io::Error },
    /// The output's read end is gone (EPIPE).
    OutputClosed { context: String },
    /// A frame failed validation under the `fail` policy.
    InvalidFrame {
        message: String,
        offset: u64,
        excerpt: Vec<u8>,
        /// It was longer than max_frame_size (else: not JSON, not an object, ...).
        oversized: bool,
    },
    /// `stop()` was called.
    Stopped,
    /// The deadline the pump was given (`Handle::set_deadline`) passed: it forwards
    /// nothing more.
    DeadlinePassed,
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "{m}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::DeadLetter { context, source } => write!(f, "{context}: {source}"),
            Error::OutputClosed { context } => write!(f, "{context}"),
            Error::InvalidFrame { message, .. } => write!(f, "{message}"),
            Error::Stopped => write!(f, "pump stopped"),
            Error::DeadlinePassed => write!(f, "pump stopped: its deadline passed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::DeadLetter { source, .. } => Some(source),
            _ => None,
        }
    }
}
