//! Verdict inserts through a connection of their own.
//!
//! Group commit hands the database a batch of verdicts at once. Through sqlx a batch was one statement of up to
//! 8 × 128 bound values, bound on a runtime thread and run on the connection's thread, whose cost per verdict was
//! several times that of the insert itself. Here each verdict is one run of a prepared statement and the batch
//! one transaction, on a blocking thread. SQLite's single-writer lock orders these transactions with the writes
//! of the sqlx writer connection (everything else). Under load these transactions follow each other closely, and
//! SQLite's default busy handler on the other connection sleeps in growing steps (up to 100 ms), so it would
//! rarely find the lock free: while that connection is in use, a batch waits for it first (a bounded time).
//! Hellbans, which come with refusals, are written here too (`pending_hellbans.rs`): each transaction on this
//! connection takes the bans queued by then.
//!
//! The table is an append-only log with an index of its own (`verdict_index.rs`): an insert appends a row and
//! records its key in the index's in-memory tail, and upkeep between batches writes the tail out and merges runs.

use std::{
    cell::Cell,
    ffi::c_int,
    path::Path,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicI32, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{
    pending_hellbans::{Hellban, PendingHellbans, Taken},
    verdict_index::{CaughtUp, Entry, VerdictIndex, VerdictKey},
    verdict_keys::VerdictKeys,
};
use crate::{BlockingVerdictInserts, StoreError, StoreResult, StoredVerdict};

/// Longest a batch lets the other writer connection go first.
const YIELD_AT_MOST: Duration = Duration::from_millis(20);

/// WAL pages after which this connection checkpoints (SQLite's default is 1 000).
const WAL_PAGES_BEFORE_CHECKPOINT: i32 = 250;

/// Least time between two warnings of failed upkeep.
const UPKEEP_WARNING_EVERY: Duration = Duration::from_secs(60);

/// How long this connection sleeps before trying a busy lock again, and how many tries it makes (5 s in all).
const BUSY_RETRY: Duration = Duration::from_micros(100);
const BUSY_TRIES: i32 = 50_000;

/// The verdict writer's connection.
#[derive(Debug)]
pub(super) struct VerdictInserts {
    connection: Arc<Mutex<Connection>>,
    /// The stored verdicts' keys, which every insert adds to before committing.
    keys: Arc<VerdictKeys>,
    /// The index every insert records its verdict in, shared with this store's lookups.
    pub(super) index: Arc<VerdictIndex>,
    /// Whether the sqlx writer connection is in use (set by its pool's acquire and release hooks).
    other_writer_busy: Arc<AtomicBool>,
    /// Pages in the WAL after this connection's last commit.
    wal_pages: AtomicI32,
    /// Hellbans for the next transaction on this connection.
    hellbans: PendingHellbans,
    /// Held by the one hellban caller whose transaction waits for this connection; the others wait for its commit
    /// (or a verdict batch's) here rather than each holding a blocking thread.
    pub(super) hellban_turn: tokio::sync::Mutex<()>,
    /// When upkeep last failed loudly: a failure that repeats (a full disk) is logged at most once a minute.
    upkeep_warned: Mutex<Option<Instant>>,
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
        let mut connection = Connection::open_with_flags(path, flags)?;
        // Short steps: the other connection's transactions are short.
        connection.busy_handler(Some(retry_soon))?;
        // As on the other writer: a verdict answered is a verdict that survives power loss.
        connection.pragma_update(None, "synchronous", "FULL")?;
        // SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so the verdicts of that
        // commit would wait for it too: this connection counts the WAL's pages instead and checkpoints in
        // `upkeep`. (Setting a WAL hook turns the automatic checkpoint off.)
        connection.wal_hook(Some(note_wal_pages));
        let index = Arc::new(VerdictIndex::open(&mut connection)?);
        let connection = Arc::new(Mutex::new(connection));
        keys.fill(Arc::clone(&connection));
        Ok(Self {
            connection,
            keys,
            index,
            other_writer_busy,
            wal_pages: AtomicI32::new(0),
            hellbans: PendingHellbans::default(),
            hellban_turn: tokio::sync::Mutex::new(()),
            upkeep_warned: Mutex::new(None),
        })
    }

    /// Queues a ban for the next transaction on this connection; returns its ticket.
    pub(super) fn queue_hellban(&self, ban: Hellban) -> u64 {
        self.hellbans.queue(ban)
    }

    /// Whether the ban of `ticket` is committed.
    pub(super) fn hellban_committed(&self, ticket: u64) -> bool {
        self.hellbans.is_committed(ticket)
    }

    /// Writes every queued ban in a transaction of their own (none queued: nothing is written).
    pub(super) fn write_queued_hellbans(&self) -> StoreResult<()> {
        let mut connection = self.lock();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let taken = self.hellbans.take();
        if taken.is_empty() {
            // A verdict batch took them first and has committed; the empty transaction rolls back.
            return Ok(());
        }
        let written = write_hellbans(&transaction, &taken).and_then(|()| Ok(transaction.commit()?));
        self.settle(taken, written.is_ok());
        drop(connection);
        written?;
        self.note_commit();
        Ok(())
    }

    /// After the transaction holding `taken` ended.
    fn settle(&self, taken: Taken, committed: bool) {
        if committed { self.hellbans.committed(taken) } else { self.hellbans.give_back(taken) }
    }

    /// Takes the WAL's page count from the commit just made on this thread.
    fn note_commit(&self) {
        self.wal_pages.store(WAL_PAGES.replace(0), Ordering::Relaxed);
    }

    /// `PRAGMA data_version` of this connection: it moves when any other connection commits.
    pub(super) fn data_version(&self) -> StoreResult<i64> {
        Ok(self.lock().pragma_query_value(None, "data_version", |row| row.get(0))?)
    }

    fn upkeep_failed(&self, error: &StoreError) {
        let mut warned = self.upkeep_warned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if warned.is_none_or(|at| at.elapsed() >= UPKEEP_WARNING_EVERY) {
            *warned = Some(Instant::now());
            tracing::warn!(%error, "verdict index upkeep failed; lookups stay correct, but slower as its tail grows");
        } else {
            tracing::debug!(%error, "verdict index upkeep failed again");
        }
    }

    fn checkpoint_if_due(&self) {
        if self.wal_pages.load(Ordering::Relaxed) < WAL_PAGES_BEFORE_CHECKPOINT {
            return;
        }
        let checkpointed =
            self.lock().query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get::<_, i64>(0));
        match checkpointed {
            Ok(_) => self.wal_pages.store(0, Ordering::Relaxed),
            Err(error) => tracing::debug!(%error, "WAL checkpoint deferred"),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-transaction rolled it back when the transaction was dropped; the connection is sound.
        self.connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Inserts each verdict unless one is stored for its event (looked up only where the key filter cannot rule it
    /// out), recording each insert in the index and in `recorded`; returns the stored verdicts and whether the key
    /// filter outgrew its size.
    fn insert_in(
        &self,
        transaction: &rusqlite::Transaction<'_>,
        verdicts: &[StoredVerdict],
        recorded: &mut Vec<Entry>,
    ) -> StoreResult<(Vec<StoredVerdict>, bool)> {
        let mut stored = Vec::with_capacity(verdicts.len());
        let mut outgrown = false;
        let mut insert = transaction.prepare_cached(
            "INSERT INTO verdicts (room_id, event_id, reference_hash, class, harms, expiry_ms, trace, \
             decided_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for verdict in verdicts {
            let (room_id, event_id) = (verdict.room_id.as_str(), verdict.event_id.as_str());
            let key = VerdictKey::of(room_id, event_id);
            if self.keys.may_contain(key)
                && let Some(earlier) = self.index.find(transaction, &[(room_id, event_id)])?.pop().flatten()
            {
                stored.push(earlier);
                continue;
            }
            insert.execute((
                room_id,
                event_id,
                verdict.reference_hash.as_deref(),
                verdict.class.as_str(),
                json(&verdict.harms)?,
                verdict.expiry_ms,
                verdict.trace.as_json(),
                verdict.decided_at_ms,
            ))?;
            let entry = Entry { key, seq: transaction.last_insert_rowid() };
            self.index.record(&[entry]);
            recorded.push(entry);
            outgrown |= self.keys.add(key);
            stored.push(verdict.clone());
        }
        Ok((stored, outgrown))
    }

    /// Keeps the key filter current with what catching up with other processes found.
    fn learn(&self, caught_up: CaughtUp) {
        let mut outgrown = false;
        for key in caught_up.learned {
            outgrown |= self.keys.add(key);
        }
        if caught_up.runs_from_elsewhere {
            self.keys.distrust();
        }
        if outgrown || caught_up.runs_from_elsewhere {
            self.keys.fill(Arc::clone(&self.connection));
        }
    }
}

/// Records or extends each ban (kept at the later expiry).
fn write_hellbans(transaction: &rusqlite::Transaction<'_>, taken: &Taken) -> StoreResult<()> {
    let mut upsert = transaction.prepare_cached(
        "INSERT INTO hellbans (community_id, user_id, expires_at_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (community_id, user_id) DO UPDATE SET expires_at_ms = \
         max(excluded.expires_at_ms, hellbans.expires_at_ms)",
    )?;
    for (community_id, user_id, expires_at_ms) in taken.bans() {
        upsert.execute((community_id, user_id, expires_at_ms))?;
    }
    Ok(())
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
        self.learn(self.index.catch_up(&transaction)?);
        let hellbans = self.hellbans.take();
        let known_upto = self.index.known_upto();
        let mut recorded = Vec::with_capacity(verdicts.len());
        let written = write_hellbans(&transaction, &hellbans)
            .and_then(|()| self.insert_in(&transaction, verdicts, &mut recorded))
            .and_then(|(stored, outgrown)| Ok((stored, outgrown, transaction.commit()?)));
        if written.is_err() {
            self.index.forget(&recorded, known_upto);
        }
        self.settle(hellbans, written.is_ok());
        drop(connection);
        let (stored, outgrown, ()) = written?;
        self.note_commit();
        if outgrown {
            self.keys.fill(Arc::clone(&self.connection));
        }
        Ok(stored)
    }

    /// One step of the index's upkeep (`verdict_index.rs`), then a checkpoint once the WAL holds
    /// [`WAL_PAGES_BEFORE_CHECKPOINT`] pages. A checkpoint writes the WAL's pages into the database file and
    /// flushes it, a few milliseconds during which the verdicts queued since wait; small checkpoints keep that
    /// pause short (at a quarter of SQLite's default, the half-rate p99 went from 11.4 ms to 8.0 ms, median of seven
    /// alternating runs). PASSIVE never waits itself: if the other connection is checkpointing, a later call tries
    /// again.
    fn upkeep(&self) -> bool {
        let stepped = {
            let mut connection = self.lock();
            self.index.upkeep(&mut connection)
        };
        let due = match stepped {
            Ok((caught_up, stepped)) => {
                self.learn(caught_up);
                if stepped {
                    self.note_commit();
                }
                stepped
            }
            Err(error) => {
                self.upkeep_failed(&error);
                false
            }
        };
        self.checkpoint_if_due();
        due
    }
}

thread_local! {
    /// Pages in the WAL after the last commit on this thread, set by [`note_wal_pages`].
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

/// The WAL hook, called by SQLite on the committing thread right after each commit (it takes a plain function, so
/// the count passes through a thread-local to the connection's owner).
fn note_wal_pages(_wal: &rusqlite::hooks::Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

fn retry_soon(tries: i32) -> bool {
    thread::sleep(BUSY_RETRY);
    tries < BUSY_TRIES
}

fn json(value: &impl serde::Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt { table: "verdicts", reason: e.to_string() })
}
