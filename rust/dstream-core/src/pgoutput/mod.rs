//! pgoutput (PostgreSQL logical replication, protocol version 1, text values) decoded
//! and encoded straight into dstream's JSON envelope lines, so the CDC input builds no
//! Python object per row.
//!
//! The Python provider (python/dstream/providers/postgres_cdc/) is the reference: the
//! lines are byte-identical to what its decoder and orjson give (tests/cdc/
//! test_pgoutput_differential.py checks that against a real server). Whatever this
//! module does not reproduce exactly — a value it cannot vouch for, a malformed message,
//! a truncate under the "log"/"fail" policies — stops the batch with
//! [`Event::Fallback`] and the Python path handles that one message. A change of a table
//! the caller isolated is counted, not written, and reported ([`Event::Isolated`]) so
//! the caller keeps it. Nothing here panics on any input (see the tests and the
//! `pgoutput` fuzz target).
//!
//! - [`wire`] reads the messages;
//! - [`values`] types one text value by its column's type OID;
//! - [`json`] writes JSON as orjson does;
//! - [`envelope`] builds envelope, truncate and checkpoint lines;
//! - [`session`] holds a replication session's state (relations, transaction, the
//!   checkpoint cadence).

pub mod envelope;
pub mod json;
pub mod session;
pub mod values;
pub mod wire;

pub use envelope::{format_lsn, TxnMeta};
pub use session::{Config, Counters, Event, Session};

#[cfg(test)]
mod tests;
