//! The index that finds a verdict by its event on a SQLite file.
//!
//! Event IDs are hashes, so a B-tree keyed by them takes every insert on a random leaf: with the table's old
//! primary key `(room_id, event_id)`, each verdict wrote about one more WAL page (and read it back for the
//! checkpoint, and wrote it to the database file), and the verdict writer's thread spent more time on that than on
//! everything else. Verdicts are now an append-only log (`verdicts.seq`), and this index is log-structured:
//!
//! - the **tail**: the keys ([`VerdictKey`]) of the verdicts above the index's watermark, in this process's memory;
//! - **runs**: sorted `(key, seq)` entries written out from the tail every [`upkeep::RUN_SIZE`] verdicts, and
//!   merged [`upkeep::FANIN`] at a time into runs of the next level, stored in blocks of sixty (`block.rs`), so
//!   every write is sequential and an entry is rewritten once per level.
//!
//! A lookup takes the tail's candidates for the key, then probes every live run and the rows above what this
//! process has seen (another process's latest verdicts) in one read snapshot, and reads each candidate's row by
//! seq, keeping it only if its room and event are the ones asked for. The tail is read before the snapshot is
//! taken, and entries leave the tail only after the run holding them has committed, so every verdict committed
//! before the snapshot is in one of the three.
//!
//! The verdict writer inserts each verdict after a lookup when the key filter (`verdict_keys.rs`) cannot rule it
//! out, and records its entry in the tail before committing. Before its inserts it catches up with other
//! processes (a `palisade` command, a second handle): their verdicts above what it has seen join its tail (and the
//! key filter), and runs they wrote move its watermark. Under SQLite's write lock nothing can come in between, so
//! the insert keeps the first verdict of an event, whoever stored it. Upkeep (`upkeep.rs`) runs between batches.

mod block;
mod key;
mod runs;
mod tail;
mod upkeep;

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

pub(crate) use block::Entry;
pub(crate) use key::VerdictKey;
use tail::Tail;

use crate::{StoreResult, StoredVerdict, VerdictClass, VerdictTrace};

/// An unindexed tail longer than this at open is written out as runs before the store is used (a database of an
/// earlier version, whose verdicts were never indexed, or a process that stopped with its tail unwritten).
const OPEN_TAIL: i64 = 4 * upkeep::RUN_SIZE as i64;

/// Verdicts indexed per run (and per transaction) at open: runs of level 2.
const OPEN_CHUNK: i64 = (upkeep::RUN_SIZE * upkeep::FANIN * upkeep::FANIN) as i64;

/// This process's part of the index: the tail, shared by the verdict writer and the lookups.
#[derive(Debug)]
pub(super) struct VerdictIndex {
    tail: RwLock<Tail>,
}

/// What catching up with other processes found.
#[derive(Debug, Default)]
pub(super) struct CaughtUp {
    /// Keys of verdicts another process stored that this one had not seen.
    pub(super) learned: Vec<VerdictKey>,
    /// Whether another process wrote runs (of verdicts this one may never have seen).
    pub(super) runs_from_elsewhere: bool,
}

impl VerdictIndex {
    /// The index of the database `connection` (the verdict writer's) is open on. A long unindexed tail is written
    /// out as runs first; the rest is read into memory.
    pub(super) fn open(connection: &mut Connection) -> StoreResult<Self> {
        loop {
            // Each chunk in a transaction of its own, under the write lock: another process may be writing too.
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let watermark = runs::watermark(&transaction)?;
            let assigned = runs::assigned_upto(&transaction)?;
            let unindexed = assigned - watermark.indexed_upto;
            if unindexed <= OPEN_TAIL {
                let entries = runs::stored_keys(&transaction, watermark.indexed_upto, assigned)?;
                transaction.commit()?;
                return Ok(Self { tail: RwLock::new(Tail::new(watermark.indexed_upto, assigned, entries)) });
            }
            tracing::info!(unindexed, "indexing stored verdicts");
            let upto = (watermark.indexed_upto + OPEN_CHUNK).min(assigned);
            let mut entries = runs::stored_keys(&transaction, watermark.indexed_upto, upto)?;
            entries.sort_unstable();
            upkeep::write_run(&transaction, watermark, upto, upkeep::level_for(entries.len()), &entries)?;
            transaction.commit()?;
        }
    }

    /// The verdict stored for each `(room_id, event_id)` (`None` where absent), read in one snapshot: the
    /// connection's open transaction, or one of its own.
    pub(super) fn find(
        &self,
        connection: &Connection,
        keys: &[(&str, &str)],
    ) -> StoreResult<Vec<Option<StoredVerdict>>> {
        let wanted: Vec<VerdictKey> =
            keys.iter().map(|(room_id, event_id)| VerdictKey::of(room_id, event_id)).collect();
        // Before the snapshot: an entry leaves the tail only once the run holding it is committed.
        let (in_tail, known_upto) = {
            let tail = self.read();
            (wanted.iter().map(|key| tail.seqs_of(*key)).collect::<Vec<_>>(), tail.known_upto)
        };
        in_snapshot(connection, || {
            let live = runs::live(connection)?;
            let mut found = Vec::with_capacity(keys.len());
            for ((&(room_id, event_id), key), mut seqs) in keys.iter().zip(&wanted).zip(in_tail) {
                for run in &live {
                    seqs.extend(runs::probe(connection, run.id, *key)?);
                }
                seqs.extend(seqs_above(connection, known_upto, room_id, event_id)?);
                seqs.sort_unstable();
                seqs.dedup();
                found.push(first_matching(connection, &seqs, room_id, event_id)?);
            }
            Ok(found)
        })
    }

    /// Catches up with other processes' writes, in the verdict writer's transaction (which holds SQLite's write
    /// lock, so none can happen until it ends).
    pub(super) fn catch_up(&self, connection: &Connection) -> StoreResult<CaughtUp> {
        let watermark = runs::watermark(connection)?;
        let assigned = runs::assigned_upto(connection)?;
        let (indexed_upto, known_upto) = {
            let tail = self.read();
            (tail.indexed_upto, tail.known_upto)
        };
        if watermark.indexed_upto == indexed_upto && assigned == known_upto {
            return Ok(CaughtUp::default());
        }
        let learned = runs::stored_keys(connection, known_upto.max(watermark.indexed_upto), assigned)?;
        let mut tail = self.write();
        tail.indexed(watermark.indexed_upto);
        tail.extend(&learned);
        tail.known_upto = tail.known_upto.max(assigned);
        Ok(CaughtUp {
            learned: learned.iter().map(|entry| entry.key).collect(),
            runs_from_elsewhere: watermark.indexed_upto > indexed_upto,
        })
    }

    /// Everything up to here is known (after [`Self::catch_up`], the highest seq given so far).
    pub(super) fn known_upto(&self) -> i64 {
        self.read().known_upto
    }

    /// Records verdicts inserted by the writer's open transaction, before it commits (a lookup finds the entry
    /// but not yet the row).
    pub(super) fn record(&self, entries: &[Entry]) {
        self.write().extend(entries);
    }

    /// Forgets verdicts [`Self::record`]ed by a transaction that rolled back; `known_upto` as it was before.
    pub(super) fn forget(&self, entries: &[Entry], known_upto: i64) {
        self.write().remove(entries, known_upto);
    }

    /// One step of upkeep in a transaction of its own on the verdict writer's connection. Returns what catching up
    /// found (the caller keeps the key filter current) and whether a step was due.
    pub(super) fn upkeep(&self, connection: &mut Connection) -> StoreResult<(CaughtUp, bool)> {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let caught_up = self.catch_up(&transaction)?;
        let step = upkeep::step(&transaction, &self.read())?;
        if step == upkeep::Step::Nothing {
            return Ok((caught_up, false));
        }
        transaction.commit()?;
        if let upkeep::Step::Flushed(indexed_upto) = step {
            self.write().indexed(indexed_upto);
        }
        Ok((caught_up, true))
    }

    fn read(&self) -> RwLockReadGuard<'_, Tail> {
        self.tail.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tail> {
        self.tail.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Calls `each` with the key of every stored verdict in the snapshot of `connection`'s open transaction (runs'
/// entries, then the rows above the watermark).
pub(super) fn each_key(connection: &Connection, mut each: impl FnMut(VerdictKey)) -> StoreResult<()> {
    for run in runs::live(connection)? {
        runs::each_entry(connection, run.id, |entry| each(entry.key))?;
    }
    for entry in runs::stored_keys(connection, runs::watermark(connection)?.indexed_upto, i64::MAX)? {
        each(entry.key);
    }
    Ok(())
}

/// About how many verdicts are stored (runs' entries, and every seq given above the watermark), cheaply.
pub(super) fn stored_estimate(connection: &Connection) -> StoreResult<u64> {
    let in_runs: i64 = runs::live(connection)?.iter().map(|run| run.entries).sum();
    let above = runs::assigned_upto(connection)? - runs::watermark(connection)?.indexed_upto;
    Ok(u64::try_from(in_runs.saturating_add(above)).unwrap_or(0))
}

/// Runs `read` in the connection's open transaction, or in a read transaction of its own.
fn in_snapshot<T>(connection: &Connection, read: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
    if !connection.is_autocommit() {
        return read();
    }
    connection.execute_batch("BEGIN")?;
    let result = read();
    let ended = connection.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
    let value = result?;
    ended?;
    Ok(value)
}

/// Seqs of the verdicts for the event stored above `after` (only the table knows those).
fn seqs_above(connection: &Connection, after: i64, room_id: &str, event_id: &str) -> StoreResult<Vec<i64>> {
    let mut statement = connection
        .prepare_cached("SELECT seq FROM verdicts WHERE seq > ?1 AND room_id = ?2 AND event_id = ?3")?;
    let seqs = statement.query_map((after, room_id, event_id), |row| row.get(0))?;
    Ok(seqs.collect::<Result<_, _>>()?)
}

/// The verdict of the first of `seqs` (ascending) whose row is the event's.
fn first_matching(
    connection: &Connection,
    seqs: &[i64],
    room_id: &str,
    event_id: &str,
) -> StoreResult<Option<StoredVerdict>> {
    for &seq in seqs {
        if let Some(verdict) = row(connection, seq)?
            && verdict.room_id == room_id
            && verdict.event_id == event_id
        {
            return Ok(Some(verdict));
        }
    }
    Ok(None)
}

/// The verdict stored at `seq`, if it is still there.
fn row(connection: &Connection, seq: i64) -> StoreResult<Option<StoredVerdict>> {
    let mut statement = connection.prepare_cached(
        "SELECT room_id, event_id, reference_hash, class, harms, expiry_ms, trace, decided_at_ms FROM verdicts \
         WHERE seq = ?1",
    )?;
    let row = statement
        .query_row([seq], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, Option<i64>>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, i64>(7)?,
            ))
        })
        .optional()?;
    let Some((room_id, event_id, reference_hash, class, harms, expiry_ms, trace, decided_at_ms)) = row else {
        return Ok(None);
    };
    let corrupt =
        |e: serde_json::Error| crate::StoreError::Corrupt { table: "verdicts", reason: e.to_string() };
    Ok(Some(StoredVerdict {
        room_id,
        event_id,
        reference_hash,
        class: VerdictClass::parse(&class, "verdicts")?,
        harms: serde_json::from_str(&harms).map_err(corrupt)?,
        expiry_ms,
        trace: VerdictTrace::from_stored(trace)?,
        decided_at_ms,
    }))
}

#[cfg(test)]
pub(crate) mod tests;
