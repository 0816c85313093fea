//! WAL checkpoints off the commit path.
//!
//! SQLite copies the write-ahead log back into the database file (a checkpoint) on the commit that grows the log
//! past 1 000 pages, and that commit waits for the copy and its fsync: under load a stall of tens of
//! milliseconds for every verdict in the batch, and for every request behind it. The verdict writer turns that
//! off; this thread checkpoints instead, a few times a second, on a connection of its own. A passive checkpoint
//! takes no lock writers wait for, so commits go on while it copies.

use std::{path::Path, sync::Weak, thread, time::Duration};

use rusqlite::{Connection, OpenFlags};

use super::VerdictInserts;
use crate::StoreResult;

/// How often the log is copied back.
const EVERY: Duration = Duration::from_millis(250);

/// Starts checkpointing the database at `path` until the verdict writer `alive` is gone. `Ok(false)` when no
/// thread could be started: the caller then leaves SQLite's own checkpoints on.
pub(super) fn start(path: &Path, alive: Weak<VerdictInserts>) -> StoreResult<bool> {
    let flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let connection = Connection::open_with_flags(path, flags)?;
    let started = thread::Builder::new().name("sqlite-checkpoint".to_owned()).spawn(move || {
        while alive.strong_count() > 0 {
            thread::sleep(EVERY);
            // A failed checkpoint (the file briefly locked by a backup, say) is tried again next time.
            let _ = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
    });
    Ok(started.is_ok())
}
