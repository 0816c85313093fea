//! Verdict inserts through a connection of their own.
//!
//! Group commit hands the database a batch of verdicts at once. Through sqlx a batch was one statement of up to
//! 8 × 128 bound values, bound on a runtime thread and run on the connection's thread, whose cost per verdict was
//! several times that of the insert itself. Here each verdict is one run of a prepared statement and the batch
//! one transaction, on a blocking thread. SQLite's single-writer lock orders these transactions with the writes
//! of the sqlx writer connection (everything else). Under load these transactions follow each other closely, and
//! SQLite's default busy handler on the other connection sleeps in growing steps (up to 100 ms), so it would
//! rarely find the lock free: while that connection is in use, a batch waits for it first (a bounded time).

use std::{
    path::Path,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{verdict_keys::VerdictKeys, verdict_lookup::read};
use crate::{BlockingVerdictInserts, StoreError, StoreResult, StoredVerdict};

/// Longest a batch lets the other writer connection go first.
const YIELD_AT_MOST: Duration = Duration::from_millis(20);

/// WAL pages after which a commit of this connection checkpoints (SQLite's default is 1 000).
const WAL_PAGES_BEFORE_CHECKPOINT: i64 = 250;

/// How long this connection sleeps before trying a busy lock again, and how many tries it makes (5 s in all).
const BUSY_RETRY: Duration = Duration::from_micros(100);
const BUSY_TRIES: i32 = 50_000;

/// The verdict writer's connection.
#[derive(Debug)]
pub(super) struct VerdictInserts {
    connection: Arc<Mutex<Connection>>,
    /// The stored verdicts' keys, which every insert adds to before committing.
    keys: Arc<VerdictKeys>,
    /// Whether the sqlx writer connection is in use (set by its pool's acquire and release hooks).
    other_writer_busy: Arc<AtomicBool>,
}

impl VerdictInserts {
    /// A read-write connection to the database file at `path` (already in WAL mode), durable at each commit.
    /// Starts filling `keys` from the table.
    pub(super) fn open(
        path: &Path,
        other_writer_busy: Arc<AtomicBool>,
        keys: Arc<VerdictKeys>,
    ) -> StoreResult<Self> {
        let flags =
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(path, flags)?;
        // Short steps: the other connection's transactions are short.
        connection.busy_handler(Some(retry_soon))?;
        // As on the other writer: a verdict answered is a verdict that survives power loss.
        connection.pragma_update(None, "synchronous", "FULL")?;
        // A checkpoint runs inside the commit that crosses this many WAL pages, and every verdict queued behind it
        // waits for it: a quarter of SQLite's default makes each such wait a quarter as long (half-rate p99 from
        // 11.4 ms to 8.0 ms, median of seven alternating runs; the same closed-loop throughput).
        connection.pragma_update(None, "wal_autocheckpoint", WAL_PAGES_BEFORE_CHECKPOINT)?;
        let connection = Arc::new(Mutex::new(connection));
        keys.fill(Arc::clone(&connection));
        Ok(Self { connection, keys, other_writer_busy })
    }

    /// `PRAGMA data_version` of this connection: it moves when any other connection commits.
    pub(super) fn data_version(&self) -> StoreResult<i64> {
        Ok(self.lock().pragma_query_value(None, "data_version", |row| row.get(0))?)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-transaction rolled it back when the transaction was dropped; the connection is sound.
        self.connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl BlockingVerdictInserts for VerdictInserts {
    /// Inserts each verdict unless one is stored for its event, in one transaction, and returns the stored
    /// verdict for each (input order; of one event asked twice, the first asked is the one stored).
    fn insert_verdicts_if_absent(&self, verdicts: &[StoredVerdict]) -> StoreResult<Vec<StoredVerdict>> {
        let deadline = Instant::now() + YIELD_AT_MOST;
        while self.other_writer_busy.load(Ordering::Acquire) && Instant::now() < deadline {
            thread::sleep(BUSY_RETRY);
        }
        let mut connection = self.lock();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stored = Vec::with_capacity(verdicts.len());
        let mut outgrown = false;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO verdicts (room_id, event_id, reference_hash, class, harms, expiry_ms, trace, \
                 decided_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (room_id, event_id) DO NOTHING",
            )?;
            for verdict in verdicts {
                outgrown |= self.keys.add(&verdict.room_id, &verdict.event_id);
                let inserted = insert.execute((
                    &verdict.room_id,
                    &verdict.event_id,
                    verdict.reference_hash.as_deref(),
                    verdict.class.as_str(),
                    json(&verdict.harms)?,
                    verdict.expiry_ms,
                    verdict.trace.as_json(),
                    verdict.decided_at_ms,
                ))? == 1;
                if inserted {
                    stored.push(verdict.clone());
                } else {
                    let earlier = read(&transaction, &verdict.room_id, &verdict.event_id)?;
                    stored.push(earlier.ok_or_else(|| StoreError::Corrupt {
                        table: "verdicts",
                        reason: "a verdict was neither inserted nor found".to_owned(),
                    })?);
                }
            }
        }
        transaction.commit()?;
        drop(connection);
        if outgrown {
            self.keys.fill(Arc::clone(&self.connection));
        }
        Ok(stored)
    }
}

fn retry_soon(tries: i32) -> bool {
    thread::sleep(BUSY_RETRY);
    tries < BUSY_TRIES
}

fn json(value: &impl serde::Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt { table: "verdicts", reason: e.to_string() })
}
