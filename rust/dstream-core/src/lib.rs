//! dstream-core: the byte-moving core of dstream (no Python).
//!
//! - [`framer`] splits a byte stream into newline-delimited frames;
//! - [`validate`] checks one frame is a strict JSON object and classifies it;
//! - [`pump`] moves frames between two fds with batched writes, policies for invalid
//!   frames, live counters and prompt stop;
//! - [`zerocopy`] (Linux) forwards validated frames with tee(2)/splice(2);
//! - [`json`] writes JSON text byte for byte as orjson does;
//! - [`sys`] holds every `unsafe` block and libc call.
//!
//! Nothing here writes to stdout: stdout is data.

pub mod counters;
pub mod deadletter;
pub mod error;
pub mod frame;
pub mod framer;
pub mod json;
pub mod pgoutput;
pub mod pump;
pub mod sys;
pub mod validate;
#[cfg(target_os = "linux")]
pub mod zerocopy;

pub use counters::Snapshot;
pub use error::Error;
pub use frame::{find, DEFAULT_MAX_FRAME_SIZE, PROTOCOL_VERSION};
pub use pump::{Handle, Options, Outcome, Policy, Pump, PumpResult};
