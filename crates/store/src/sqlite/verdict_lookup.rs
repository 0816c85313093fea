//! Verdict lookups on the calling thread.
//!
//! Every new event is looked up before it is decided. Through sqlx, a lookup is handed to the connection's own
//! thread and its answer handed back: two thread switches, which on a small machine cost several times the
//! lookup itself (a primary-key probe in cached pages, a few microseconds). These connections answer on the
//! caller's thread instead. They are read-only and see every committed write (WAL), so nothing else changes.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::{StoreResult, StoredVerdict, VerdictClass, VerdictTrace};

/// Idle connections kept; a thread that finds none opens one (at most one per thread asking at once).
const MAX_IDLE: usize = 8;

/// Read-only connections to one database file, lent to one lookup at a time.
#[derive(Debug)]
pub(super) struct InlineVerdictReads {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl InlineVerdictReads {
    /// Lookups on the database file at `path`.
    pub(super) fn new(path: &Path, busy_timeout: Duration) -> Self {
        Self { path: path.to_owned(), busy_timeout, idle: Mutex::default() }
    }

    /// The verdicts stored for `keys`, in order, `None` where absent.
    pub(super) fn get_verdicts(&self, keys: &[(&str, &str)]) -> StoreResult<Vec<Option<StoredVerdict>>> {
        let connection = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let connection = match connection {
            Some(connection) => connection,
            None => self.open()?,
        };
        let found = keys.iter().map(|(room_id, event_id)| read(&connection, room_id, event_id)).collect();
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(connection);
        }
        found
    }

    fn open(&self) -> StoreResult<Connection> {
        let flags =
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(&self.path, flags)?;
        connection.busy_timeout(self.busy_timeout)?;
        Ok(connection)
    }
}

/// The verdict stored for `(room_id, event_id)`, if any.
pub(super) fn read(
    connection: &Connection,
    room_id: &str,
    event_id: &str,
) -> StoreResult<Option<StoredVerdict>> {
    let mut statement = connection.prepare_cached(
        "SELECT reference_hash, class, harms, expiry_ms, trace, decided_at_ms FROM verdicts \
         WHERE room_id = ?1 AND event_id = ?2",
    )?;
    let row = statement
        .query_row((room_id, event_id), |row| {
            Ok((
                row.get::<_, Option<String>>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<i64>>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, i64>(5)?,
            ))
        })
        .optional()?;
    let Some((reference_hash, class, harms, expiry_ms, trace, decided_at_ms)) = row else { return Ok(None) };
    let corrupt =
        |e: serde_json::Error| crate::StoreError::Corrupt { table: "verdicts", reason: e.to_string() };
    Ok(Some(StoredVerdict {
        room_id: room_id.to_owned(),
        event_id: event_id.to_owned(),
        reference_hash,
        class: VerdictClass::parse(&class, "verdicts")?,
        harms: serde_json::from_str(&harms).map_err(corrupt)?,
        expiry_ms,
        trace: VerdictTrace::from_stored(trace)?,
        decided_at_ms,
    }))
}
