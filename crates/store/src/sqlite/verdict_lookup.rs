//! Verdict lookups on the calling thread.
//!
//! Every new event is looked up before it is decided. Through sqlx, a lookup is handed to the connection's own
//! thread and its answer handed back: two thread switches, which on a small machine cost several times the
//! lookup itself. These connections answer on the caller's thread instead, through the verdict index
//! (`verdict_index.rs`). They are read-only and see every committed write (WAL), so nothing else changes.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use rusqlite::{Connection, OpenFlags};

use super::verdict_index::VerdictIndex;
use crate::{StoreResult, StoredVerdict};

/// Idle connections kept; a thread that finds none opens one (at most one per thread asking at once).
const MAX_IDLE: usize = 8;

/// Read-only connections to one database file, lent to one lookup at a time.
#[derive(Debug)]
pub(super) struct InlineVerdictReads {
    path: PathBuf,
    busy_timeout: Duration,
    index: Arc<VerdictIndex>,
    idle: Mutex<Vec<Connection>>,
}

impl InlineVerdictReads {
    /// Lookups on the database file at `path`, through this process's part of its verdict index.
    pub(super) fn new(path: &Path, busy_timeout: Duration, index: Arc<VerdictIndex>) -> Self {
        Self { path: path.to_owned(), busy_timeout, index, idle: Mutex::default() }
    }

    /// The verdicts stored for `keys`, in order, `None` where absent.
    pub(super) fn get_verdicts(&self, keys: &[(&str, &str)]) -> StoreResult<Vec<Option<StoredVerdict>>> {
        let connection = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let connection = match connection {
            Some(connection) => connection,
            None => self.open()?,
        };
        let found = self.index.find(&connection, keys);
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
