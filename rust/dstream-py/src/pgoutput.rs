//! dstream._core.PgoutputSession: pgoutput payloads in, envelope lines out (see
//! dstream_core::pgoutput and _core.pyi). Only bytes cross: a list of the replication
//! messages' payloads goes in, one bytes object of complete lines comes out.

use dstream_core::pgoutput as pg;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

#[pyclass(module = "dstream._core")]
struct PgoutputSession {
    inner: pg::Session,
}

#[pymethods]
impl PgoutputSession {
    #[new]
    #[pyo3(signature = (*, slot, tables, base_types, resume_lsn, checkpoint_every, checkpoint_interval, truncate_emit, oids = Vec::new()))]
    #[allow(clippy::too_many_arguments)] // keyword-only: each is named at the call
    fn new(
        slot: String,
        tables: Vec<(String, String)>,
        base_types: HashMap<u32, u32>,
        resume_lsn: u64,
        checkpoint_every: u64,
        checkpoint_interval: f64,
        truncate_emit: bool,
        oids: Vec<u32>,
    ) -> PgoutputSession {
        PgoutputSession {
            inner: pg::Session::new(pg::Config {
                slot,
                tables: tables.into_iter().collect::<HashSet<_>>(),
                oids: oids.into_iter().collect::<HashSet<_>>(),
                base_types,
                resume_lsn,
                checkpoint_every,
                checkpoint_interval: Duration::from_secs_f64(checkpoint_interval.max(0.0)),
                truncate_emit,
            }),
        }
    }

    /// Handles payloads[start:] until the end or an event; returns (index, event).
    #[pyo3(signature = (payloads, start = 0))]
    fn feed(
        &mut self,
        payloads: &Bound<'_, PyList>,
        start: usize,
    ) -> PyResult<(usize, &'static str)> {
        let items: Vec<Bound<'_, PyBytes>> = payloads
            .iter()
            .map(|item| {
                item.cast_into::<PyBytes>()
                    .map_err(|_| PyTypeError::new_err("payloads must be bytes"))
            })
            .collect::<PyResult<_>>()?;
        let slices: Vec<&[u8]> = items.iter().map(|b| b.as_bytes()).collect();
        let (at, event) = self.inner.feed(&slices, start);
        let name = match event {
            pg::Event::Done => "done",
            pg::Event::Relation => "relation",
            pg::Event::Fallback => "fallback",
            pg::Event::Isolated => "isolated",
        };
        Ok((at, name))
    }

    fn idle(&mut self) {
        self.inner.idle();
    }

    /// The buffered lines, and the buffer emptied.
    fn take<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let b = PyBytes::new(py, self.inner.output());
        self.inner.clear_output();
        b
    }

    fn push(&mut self, lines: &[u8], seq: u64, changes: u64) {
        self.inner.push(lines, seq, changes);
    }

    fn isolate(&mut self, table: &str) {
        self.inner.isolate(table);
    }

    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }
    #[getter]
    fn in_txn(&self) -> bool {
        self.inner.in_txn()
    }
    #[getter]
    fn skip_txn(&self) -> bool {
        self.inner.skip_txn()
    }
    #[getter]
    fn seq(&self) -> u64 {
        self.inner.seq()
    }
    #[getter]
    fn last_end_lsn(&self) -> u64 {
        self.inner.last_end_lsn()
    }
    #[getter]
    fn last_checkpoint_lsn(&self) -> u64 {
        self.inner.last_checkpoint_lsn()
    }

    /// (LSN, CommitTime, TransactionId) of the current transaction, None before any.
    fn txn_meta(&self) -> (Option<String>, Option<String>, Option<u32>) {
        let m = self.inner.meta();
        (m.lsn.clone(), m.commit_time.clone(), m.xid)
    }

    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.counters();
        let d = PyDict::new(py);
        d.set_item("changes", c.changes)?;
        d.set_item("transactions", c.transactions)?;
        d.set_item("checkpoints", c.checkpoints)?;
        d.set_item("skipped_replayed", c.skipped_replayed)?;
        d.set_item("truncates", c.truncates)?;
        let isolated = PyDict::new(py);
        for (k, v) in &c.isolated {
            isolated.set_item(k, v)?;
        }
        d.set_item("isolated", isolated)?;
        Ok(d)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PgoutputSession>()
}
