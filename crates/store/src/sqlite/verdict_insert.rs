//! Verdict inserts through a connection of their own.
//!
//! Group commit hands the database a batch of verdicts at once. Through sqlx a batch was one statement of up to
//! 8 × 128 bound values, bound on a runtime thread and run on the connection's thread, whose cost per verdict was
//! several times that of the insert itself. Here each verdict is one run of a prepared statement and the batch
//! one transaction, on a blocking thread. SQLite's single-writer lock orders these transactions with the writes
//! of the sqlx writer connection (everything else).

use std::{
    path::Path,
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::verdict_lookup::read;
use crate::{StoreError, StoreResult, StoredVerdict};

/// The verdict writer's connection.
#[derive(Debug)]
pub(super) struct VerdictInserts {
    connection: Mutex<Connection>,
}

impl VerdictInserts {
    /// A read-write connection to the database file at `path` (already in WAL mode), durable at each commit.
    pub(super) fn open(path: &Path, busy_timeout: Duration) -> StoreResult<Self> {
        let flags =
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(path, flags)?;
        connection.busy_timeout(busy_timeout)?;
        // As on the other writer: a verdict answered is a verdict that survives power loss.
        connection.pragma_update(None, "synchronous", "FULL")?;
        Ok(Self { connection: Mutex::new(connection) })
    }

    /// Inserts each verdict unless one is stored for its event, in one transaction, and returns the stored
    /// verdict for each (input order; of one event asked twice, the first asked is the one stored).
    pub(super) fn insert_if_absent(&self, verdicts: &[StoredVerdict]) -> StoreResult<Vec<StoredVerdict>> {
        let mut connection = self.lock();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stored = Vec::with_capacity(verdicts.len());
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO verdicts (room_id, event_id, reference_hash, class, harms, expiry_ms, trace, \
                 decided_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (room_id, event_id) DO NOTHING",
            )?;
            for verdict in verdicts {
                let inserted = insert.execute((
                    &verdict.room_id,
                    &verdict.event_id,
                    verdict.reference_hash.as_deref(),
                    verdict.class.as_str(),
                    json(&verdict.harms)?,
                    verdict.expiry_ms,
                    json(&verdict.trace)?,
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
        Ok(stored)
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

fn json(value: &impl serde::Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt { table: "verdicts", reason: e.to_string() })
}
