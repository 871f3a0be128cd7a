//! One replication session's decoding state: the relation cache, the open transaction,
//! the sequence inside it and when the next checkpoint is due. A port of the read loop
//! of python/dstream/providers/postgres_cdc/stream.py (`ChangeStream.frames`).

use super::envelope::{self, TxnMeta};
use super::wire::{self, Cell, Message, Relation};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// Why [`Session::feed`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Every message of the batch was handled.
    Done,
    /// The message before `reached` was a Relation: the caller's own cache may want it.
    Relation,
    /// The message at `reached` is the caller's to handle (a value this module does not
    /// reproduce, a truncate under a policy other than "emit", a malformed message); the
    /// session's state is as it was before that message.
    Fallback,
    /// The message before `reached` was a change of an isolated table: counted, not
    /// written. The caller keeps it (a dead-letter file) or reports it lost.
    Isolated,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub slot: String,
    /// The captured tables, by (schema, name) as configured ...
    pub tables: HashSet<(String, String)>,
    /// ... and by OID, which a table keeps when renamed (the publication follows it so).
    pub oids: HashSet<u32>,
    pub base_types: HashMap<u32, u32>,
    pub resume_lsn: u64,
    pub checkpoint_every: u64,
    pub checkpoint_interval: Duration,
    pub truncate_emit: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub changes: u64,
    pub transactions: u64,
    pub checkpoints: u64,
    pub skipped_replayed: u64,
    pub truncates: u64,
    pub isolated: BTreeMap<String, u64>,
}

pub struct Session {
    cfg: Config,
    relations: HashMap<u32, Relation>,
    cells: Vec<Cell>,
    out: Vec<u8>,
    meta: TxnMeta,
    in_txn: bool,
    skip_txn: bool,
    seq: u64,
    pending_lsn: Option<u64>,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    last_end_lsn: u64,
    last_checkpoint_lsn: u64,
    counters: Counters,
    /// `cfg.oids` sorted, as each checkpoint names them.
    table_oids: Vec<u32>,
}

impl Session {
    pub fn new(cfg: Config) -> Session {
        let mut table_oids: Vec<u32> = cfg.oids.iter().copied().collect();
        table_oids.sort_unstable();
        Session {
            table_oids,
            cfg,
            relations: HashMap::new(),
            cells: Vec::new(),
            out: Vec::with_capacity(1 << 18),
            meta: TxnMeta::default(),
            in_txn: false,
            skip_txn: false,
            seq: 0,
            pending_lsn: None,
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
            last_end_lsn: 0,
            last_checkpoint_lsn: 0,
            counters: Counters::default(),
        }
    }

    /// Handles `payloads[start..]` in order, appending lines to the output buffer, until
    /// the batch ends or a message needs the caller. Returns the index it stopped at.
    pub fn feed<P: AsRef<[u8]>>(&mut self, payloads: &[P], start: usize) -> (usize, Event) {
        for (i, payload) in payloads.iter().enumerate().skip(start) {
            let p = payload.as_ref();
            match self.message(p) {
                Ok(Some(event)) => {
                    let at = if event == Event::Fallback { i } else { i + 1 };
                    return (at, event);
                }
                Ok(None) => {}
                Err(wire::Malformed) => return (i, Event::Fallback),
            }
        }
        (payloads.len(), Event::Done)
    }

    fn message(&mut self, p: &[u8]) -> Result<Option<Event>, wire::Malformed> {
        let base = &self.cfg.base_types;
        match wire::decode(p, base, &mut self.relations, &mut self.cells)? {
            Message::Row(row) => {
                if self.skip_txn {
                    return Ok(None);
                }
                let Some(rel) = self.relations.get(&row.oid) else {
                    return Err(wire::Malformed); // the Python path reports it
                };
                if !rel.wanted {
                    return Ok(None);
                }
                if let Some(n) = self.counters.isolated.get_mut(rel.qualified.as_str()) {
                    *n += 1;
                    return Ok(Some(Event::Isolated));
                }
                let mark = self.out.len();
                let done = if rel.repeated_names {
                    Err(super::json::Unsupported("repeated column names"))
                } else {
                    envelope::row(
                        &mut self.out,
                        rel,
                        &row,
                        p,
                        &self.cells,
                        &self.meta,
                        self.seq,
                    )
                };
                if done.is_err() {
                    self.out.truncate(mark);
                    return Ok(Some(Event::Fallback));
                }
                self.seq += 1;
                self.since_checkpoint += 1;
            }
            Message::Begin {
                final_lsn,
                commit_time,
                xid,
            } => {
                let Some(meta) = TxnMeta::new(final_lsn, commit_time, xid) else {
                    return Err(wire::Malformed); // a commit time Python cannot print
                };
                self.in_txn = true;
                self.seq = 0;
                // Already delivered before the restart (the server normally skips these;
                // this guards a start_lsn the server did not honour).
                self.skip_txn = 0 < final_lsn && final_lsn < self.cfg.resume_lsn;
                self.meta = meta;
            }
            Message::Commit { end_lsn } => self.commit(end_lsn),
            Message::Relation(oid) => {
                if let Some(rel) = self.relations.get_mut(&oid) {
                    let name = (rel.schema.clone(), rel.name.clone());
                    rel.wanted = self.cfg.oids.contains(&oid) || self.cfg.tables.contains(&name);
                }
                return Ok(Some(Event::Relation));
            }
            Message::Truncate {
                oids,
                cascade,
                restart_identity,
            } => {
                if self.skip_txn {
                    return Ok(None);
                }
                if !self.cfg.truncate_emit {
                    return Ok(Some(Event::Fallback));
                }
                for oid in oids {
                    let Some(rel) = self.relations.get(&oid) else {
                        continue;
                    };
                    if !rel.wanted {
                        continue;
                    }
                    self.counters.truncates += 1;
                    let flags = (cascade, restart_identity);
                    envelope::truncate(&mut self.out, rel, &self.meta, self.seq, flags);
                    self.seq += 1;
                }
            }
            Message::Ignored => {}
        }
        Ok(None)
    }

    fn commit(&mut self, end_lsn: u64) {
        self.in_txn = false;
        if self.skip_txn {
            self.counters.skipped_replayed += 1;
            self.skip_txn = false;
            return;
        }
        self.counters.transactions += 1;
        self.counters.changes += self.seq;
        self.pending_lsn = Some(end_lsn);
        self.last_end_lsn = end_lsn;
        if self.since_checkpoint >= self.cfg.checkpoint_every
            || self.last_checkpoint.elapsed() >= self.cfg.checkpoint_interval
        {
            self.checkpoint();
        }
    }

    fn checkpoint(&mut self) {
        if let Some(lsn) = self.pending_lsn.take() {
            self.counters.checkpoints += 1;
            envelope::checkpoint(
                &mut self.out,
                lsn,
                &self.cfg.slot,
                &self.table_oids,
                self.counters.isolated.keys(),
            );
            self.since_checkpoint = 0;
            self.last_checkpoint = Instant::now();
            self.last_checkpoint_lsn = lsn;
        }
    }

    /// The stream went idle: checkpoint a finished transaction not yet checkpointed.
    pub fn idle(&mut self) {
        if !self.in_txn {
            self.checkpoint();
        }
    }

    /// Lines the caller encoded itself for the message at the stopping index: they
    /// advance the sequence by `seq` and count `changes` toward the next checkpoint.
    pub fn push(&mut self, lines: &[u8], seq: u64, changes: u64) {
        self.out.extend_from_slice(lines);
        self.seq += seq;
        self.since_checkpoint += changes;
    }

    /// `table` ("schema.name") is isolated: its later changes are counted, not emitted,
    /// and each is reported as [`Event::Isolated`]. Counts one (the change that isolated
    /// it, or one the caller skipped).
    pub fn isolate(&mut self, table: &str) {
        *self.counters.isolated.entry(table.to_owned()).or_insert(0) += 1;
    }

    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
    /// The lines buffered so far; [`Session::clear_output`] once they are written.
    pub fn output(&self) -> &[u8] {
        &self.out
    }
    pub fn clear_output(&mut self) {
        self.out.clear();
    }
    pub fn buffered(&self) -> usize {
        self.out.len()
    }
    pub fn in_txn(&self) -> bool {
        self.in_txn
    }
    pub fn skip_txn(&self) -> bool {
        self.skip_txn
    }
    pub fn seq(&self) -> u64 {
        self.seq
    }
    pub fn last_end_lsn(&self) -> u64 {
        self.last_end_lsn
    }
    /// The LSN of the last checkpoint line written (0: none yet).
    pub fn last_checkpoint_lsn(&self) -> u64 {
        self.last_checkpoint_lsn
    }
    pub fn meta(&self) -> &TxnMeta {
        &self.meta
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}
