//! The embedded SQLite backend.

mod other_writers;
mod pending_hellbans;
mod queries;
mod verdict_index;
mod verdict_insert;
mod verdict_keys;
mod verdict_lookup;
mod verdict_statements;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::broadcast;

use crate::hellban_mirror::HellbanMirror;
use crate::schema::ensure_not_newer;
use crate::{
    Backend, BlockingVerdictInserts, Community, ConfigChange, EduBatch, EduRetry, JoinState, MediaScan,
    PruneReport, Room, ServerKey, StateEvent, Store, StoreResult, StoredVerdict, VerdictLookup,
};
use verdict_insert::VerdictInserts;
use verdict_keys::VerdictKeys;
use verdict_lookup::InlineVerdictReads;

/// Migrations for SQLite, embedded at compile time.
static MIGRATOR: Migrator = sqlx::sqlx_macros::migrate!("migrations/sqlite");

/// How long a connection waits for another writer before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Readers on a file database, one per core (at least 2, at most 8); writers are serialised through one connection
/// anyway. Each sqlx connection is a thread that every query hands off to, and past the core count the hand-offs
/// cost more than parallel reads gain: on 2 cores, 2 readers served 4 400 new events/s, 4 readers 3 700, 1 reader
/// 3 500 (`scripts/loadgen`).
fn max_readers() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    u32::try_from(cores).unwrap_or(u32::MAX).clamp(2, 8)
}

/// Capacity of the in-process change broadcast; a slower subscriber sees `Lagged` and resyncs.
const CHANGE_CAPACITY: usize = 256;

/// SQLite store: one writer connection, a small pool of readers; on a file, also a verdict writer connection
/// (`sqlite/verdict_insert.rs`), read-only verdict lookups on the caller's thread (`sqlite/verdict_lookup.rs`) and
/// an in-memory filter of the stored verdicts' keys that spares most lookups (`sqlite/verdict_keys.rs`).
///
/// WAL lets readers run while the writer commits. `synchronous=FULL` makes every commit durable
/// before it returns: a verdict is promised never to flip, so it must survive power loss once a
/// server has been answered. (`NORMAL` in WAL mode may lose the last commits on power failure.)
/// The cost, one fsync per commit, is amortised by the group-commit [`crate::VerdictWriter`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    changes: broadcast::Sender<ConfigChange>,
    /// Active hellbans, answered from memory.
    hellbans: Arc<HellbanMirror>,
    /// Verdict lookups on the caller's thread (file databases only; in memory, `reader` is the writer).
    verdict_reads: Option<Arc<InlineVerdictReads>>,
    /// Verdict inserts on a connection of their own (file databases only; in memory, through `writer`).
    verdict_inserts: Option<Arc<VerdictInserts>>,
    /// Which verdicts may be stored (file databases only).
    verdict_keys: Option<Arc<VerdictKeys>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or `sqlite::memory:`)
    /// and applies pending migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let in_memory = is_in_memory(url);
        // An in-memory database lives only as long as a connection to it, and separate pools would
        // need shared-cache locking, so it gets one pinned connection for everything.
        // No ping before each use (sqlx's default): a connection to a local file does not drop, and the ping is
        // one more round trip to the connection's thread for every query.
        let writer_busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (acquired, released) = (Arc::clone(&writer_busy), Arc::clone(&writer_busy));
        let writer = SqlitePoolOptions::new()
            // Tells the verdict writer when to let this connection take the write lock first.
            .before_acquire(move |_, _| {
                acquired.store(true, std::sync::atomic::Ordering::Release);
                Box::pin(std::future::ready(Ok(true)))
            })
            .after_release(move |_, _| {
                released.store(false, std::sync::atomic::Ordering::Release);
                Box::pin(std::future::ready(Ok(true)))
            })
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(max_readers())
                .test_before_acquire(false)
                .connect_with(options.clone().read_only(true))
                .await?
        };
        migrate(&writer).await?;
        if in_memory {
            // One connection serves everything here, through sqlx: a unique index keeps one verdict per event
            // (files use their own index, `sqlite/verdict_index.rs`).
            sqlx::query("CREATE UNIQUE INDEX IF NOT EXISTS verdicts_event ON verdicts (room_id, event_id)")
                .execute(&writer)
                .await?;
        }
        let verdict_keys = (!in_memory).then(|| Arc::new(VerdictKeys::new(options.get_filename())));
        let verdict_inserts = match &verdict_keys {
            Some(keys) => {
                Some(Arc::new(VerdictInserts::open(options.get_filename(), writer_busy, Arc::clone(keys))?))
            }
            None => None,
        };
        let verdict_reads = verdict_inserts.as_ref().map(|inserts| {
            Arc::new(InlineVerdictReads::new(
                options.get_filename(),
                BUSY_TIMEOUT,
                Arc::clone(&inserts.index),
            ))
        });
        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        let hellbans = Arc::new(HellbanMirror::default());
        if let Some(inserts) = &verdict_inserts {
            other_writers::watch(
                writer.clone(),
                Arc::downgrade(inserts),
                changes.downgrade(),
                Arc::downgrade(&hellbans),
            )
            .await;
        }
        Ok(Self { writer, reader, changes, hellbans, verdict_reads, verdict_inserts, verdict_keys })
    }

    /// The settings SQLite actually applied on the writer connection (for health checks and tests).
    pub async fn effective_settings(&self) -> StoreResult<SqliteSettings> {
        let (journal_mode,): (String,) =
            sqlx::query_as("PRAGMA journal_mode").fetch_one(&self.writer).await?;
        let (synchronous,): (i64,) = sqlx::query_as("PRAGMA synchronous").fetch_one(&self.writer).await?;
        let (foreign_keys,): (i64,) = sqlx::query_as("PRAGMA foreign_keys").fetch_one(&self.writer).await?;
        let (busy_timeout_ms,): (i64,) =
            sqlx::query_as("PRAGMA busy_timeout").fetch_one(&self.writer).await?;
        Ok(SqliteSettings { journal_mode, synchronous, foreign_keys: foreign_keys != 0, busy_timeout_ms })
    }

    /// The verdict stored for an event, read only if the key filter says it may be stored.
    fn read_verdict(
        &self,
        reads: &InlineVerdictReads,
        room_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<StoredVerdict>> {
        if !self.may_be_stored(room_id, event_id) {
            return Ok(None);
        }
        Ok(reads.get_verdicts(&[(room_id, event_id)])?.pop().flatten())
    }

    /// Whether a verdict for the event may be stored (always, where no key filter is kept).
    fn may_be_stored(&self, room_id: &str, event_id: &str) -> bool {
        self.verdict_keys
            .as_ref()
            .is_none_or(|keys| keys.may_contain(verdict_index::VerdictKey::of(room_id, event_id)))
    }

    /// Announces a change to subscribers (none listening is fine).
    fn notify(&self, change: ConfigChange) {
        let _ = self.changes.send(change);
    }
}

/// Connection settings as reported by SQLite's pragmas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    /// `wal` for files (`memory` for in-memory databases).
    pub journal_mode: String,
    /// `2` = FULL.
    pub synchronous: i64,
    /// Whether foreign keys are enforced.
    pub foreign_keys: bool,
    /// Busy timeout in milliseconds.
    pub busy_timeout_ms: i64,
}

/// Whether the URL names an in-memory database.
fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Checks the schema version and applies pending migrations.
async fn migrate(pool: &SqlitePool) -> StoreResult<()> {
    let has_table: Option<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_optional(pool)
            .await?;
    if has_table.is_some() {
        let (max,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(pool).await?;
        ensure_not_newer(max, &MIGRATOR)?;
    }
    MIGRATOR.run(pool).await?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn create_community(&self, name: &str) -> StoreResult<Community> {
        let community = queries::create_community(&self.writer, name).await?;
        self.notify(ConfigChange::Community(community.id.clone()));
        Ok(community)
    }

    async fn put_community(&self, community: &Community) -> StoreResult<()> {
        queries::put_community(&self.writer, community).await?;
        self.notify(ConfigChange::Community(community.id.clone()));
        Ok(())
    }

    async fn get_community(&self, community_id: &str) -> StoreResult<Option<Community>> {
        queries::get_community(&self.reader, community_id).await
    }

    async fn list_communities(&self) -> StoreResult<Vec<Community>> {
        queries::list_communities(&self.reader).await
    }

    async fn set_community_config(&self, community_id: &str, config: &Value) -> StoreResult<bool> {
        let found = queries::set_community_config(&self.writer, community_id, config).await?;
        if found {
            self.notify(ConfigChange::Community(community_id.to_owned()));
        }
        Ok(found)
    }

    async fn set_community_access_token(&self, community_id: &str, token: Option<&str>) -> StoreResult<bool> {
        let found = queries::set_community_access_token(&self.writer, community_id, token).await?;
        if found {
            self.notify(ConfigChange::Community(community_id.to_owned()));
        }
        Ok(found)
    }

    async fn community_by_access_token(&self, token: &str) -> StoreResult<Option<Community>> {
        queries::community_by_access_token(&self.reader, token).await
    }

    async fn put_room(&self, room: &Room) -> StoreResult<()> {
        queries::put_room(&self.writer, room).await?;
        self.notify(ConfigChange::Room(room.room_id.clone()));
        Ok(())
    }

    async fn get_room(&self, room_id: &str) -> StoreResult<Option<Room>> {
        queries::get_room(&self.reader, room_id).await
    }

    async fn list_rooms(&self) -> StoreResult<Vec<Room>> {
        queries::list_rooms(&self.reader, None).await
    }

    async fn list_community_rooms(&self, community_id: &str) -> StoreResult<Vec<Room>> {
        queries::list_rooms(&self.reader, Some(community_id)).await
    }

    async fn set_room_join_state(&self, room_id: &str, state: JoinState) -> StoreResult<bool> {
        let found = queries::set_room_join_state(&self.writer, room_id, state).await?;
        if found {
            self.notify(ConfigChange::Room(room_id.to_owned()));
        }
        Ok(found)
    }

    async fn set_room_overrides(&self, room_id: &str, overrides: Option<&Value>) -> StoreResult<bool> {
        let found = queries::set_room_overrides(&self.writer, room_id, overrides).await?;
        if found {
            self.notify(ConfigChange::Room(room_id.to_owned()));
        }
        Ok(found)
    }

    async fn delete_room(&self, room_id: &str) -> StoreResult<bool> {
        let found = queries::delete_room(&self.writer, room_id).await?;
        if found {
            self.notify(ConfigChange::Room(room_id.to_owned()));
        }
        Ok(found)
    }

    async fn put_state_events(&self, room_id: &str, events: &[StateEvent]) -> StoreResult<()> {
        queries::put_state_events(&self.writer, room_id, events).await?;
        self.notify(ConfigChange::RoomState(room_id.to_owned()));
        Ok(())
    }

    async fn replace_room_state(&self, room_id: &str, events: &[StateEvent], now_ms: i64) -> StoreResult<()> {
        queries::replace_room_state(&self.writer, room_id, events, now_ms).await?;
        self.notify(ConfigChange::RoomState(room_id.to_owned()));
        Ok(())
    }

    async fn get_state_event(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
    ) -> StoreResult<Option<StateEvent>> {
        queries::get_state_event(&self.reader, room_id, event_type, state_key).await
    }

    async fn get_room_state(&self, room_id: &str) -> StoreResult<Vec<StateEvent>> {
        queries::get_room_state(&self.reader, room_id).await
    }

    async fn insert_verdicts_if_absent(&self, verdicts: &[StoredVerdict]) -> StoreResult<Vec<StoredVerdict>> {
        let Some(inserts) = &self.verdict_inserts else {
            return verdict_statements::insert_verdicts_if_absent(&self.writer, verdicts).await;
        };
        let (inserts, verdicts) = (Arc::clone(inserts), verdicts.to_vec());
        // The commit waits for fsync: not on a runtime thread. No group-commit writer does the upkeep between
        // these calls, so each does it all before returning.
        tokio::task::spawn_blocking(move || {
            let stored = inserts.insert_verdicts_if_absent(&verdicts);
            while inserts.upkeep() {}
            stored
        })
        .await
        .map_err(|_| crate::StoreError::WriterClosed)?
    }

    async fn get_verdicts(&self, keys: &[(&str, &str)]) -> StoreResult<Vec<Option<StoredVerdict>>> {
        match &self.verdict_reads {
            Some(reads) => {
                let maybe: Vec<bool> =
                    keys.iter().map(|&(room_id, event_id)| self.may_be_stored(room_id, event_id)).collect();
                let asked: Vec<(&str, &str)> =
                    keys.iter().zip(&maybe).filter(|(_, maybe)| **maybe).map(|(key, _)| *key).collect();
                let mut found = reads.get_verdicts(&asked)?.into_iter();
                Ok(maybe.into_iter().map(|maybe| if maybe { found.next().flatten() } else { None }).collect())
            }
            None => verdict_statements::get_verdicts(&mut *self.reader.acquire().await?, keys).await,
        }
    }

    fn blocking_verdict_inserts(&self) -> Option<Arc<dyn BlockingVerdictInserts>> {
        self.verdict_inserts.clone().map(|inserts| inserts as Arc<dyn BlockingVerdictInserts>)
    }

    async fn get_verdict(
        &self,
        room_id: &str,
        event_id: &str,
        reference_hash: Option<&str>,
    ) -> StoreResult<VerdictLookup> {
        match &self.verdict_reads {
            Some(reads) => {
                Ok(VerdictLookup::of(self.read_verdict(reads, room_id, event_id)?, reference_hash))
            }
            None => verdict_statements::get_verdict(&self.reader, room_id, event_id, reference_hash).await,
        }
    }

    async fn delete_community(&self, community_id: &str) -> StoreResult<bool> {
        let found = queries::delete_community(&self.writer, community_id).await?;
        if found {
            self.notify(ConfigChange::Community(community_id.to_owned()));
        }
        Ok(found)
    }

    async fn verdicts_for_event(&self, event_id: &str) -> StoreResult<Vec<StoredVerdict>> {
        queries::verdicts_for_event(&self.reader, event_id).await
    }

    async fn list_verdicts(&self, query: &crate::VerdictQuery) -> StoreResult<Vec<StoredVerdict>> {
        queries::list_verdicts(&self.reader, query).await
    }

    async fn count_verdicts(
        &self,
        community_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> StoreResult<Vec<crate::VerdictCount>> {
        queries::count_verdicts(&self.reader, community_id, since_ms, until_ms).await
    }

    async fn enqueue_outbox(
        &self,
        kind: &str,
        target: &str,
        payload: &Value,
        now_ms: i64,
    ) -> StoreResult<i64> {
        queries::enqueue_outbox(&self.writer, kind, target, payload, now_ms).await
    }

    async fn take_outbox(
        &self,
        kind: &str,
        max: u32,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreResult<Vec<crate::OutboxItem>> {
        queries::take_outbox(&self.writer, kind, max, now_ms, lease_ms).await
    }

    async fn ack_outbox(&self, id: i64) -> StoreResult<bool> {
        queries::ack_outbox(&self.writer, id).await
    }

    async fn retry_outbox(&self, id: i64, next_attempt_ms: i64, error: &str) -> StoreResult<bool> {
        queries::retry_outbox(&self.writer, id, next_attempt_ms, error).await
    }

    async fn outbox_len(&self, kind: &str) -> StoreResult<u64> {
        queries::outbox_len(&self.writer, kind).await
    }

    async fn put_server_key(&self, key: &ServerKey) -> StoreResult<()> {
        queries::put_server_key(&self.writer, key).await
    }

    async fn get_server_key(&self, server_name: &str, key_id: &str) -> StoreResult<Option<ServerKey>> {
        Ok(queries::get_server_keys(&self.reader, server_name, Some(key_id)).await?.pop())
    }

    async fn get_server_keys(&self, server_name: &str) -> StoreResult<Vec<ServerKey>> {
        queries::get_server_keys(&self.reader, server_name, None).await
    }

    async fn put_keyword_template(&self, name: &str, body: &str) -> StoreResult<()> {
        queries::put_keyword_template(&self.writer, name, body).await?;
        self.notify(ConfigChange::KeywordTemplate(name.to_owned()));
        Ok(())
    }

    async fn get_keyword_template(&self, name: &str) -> StoreResult<Option<String>> {
        queries::get_keyword_template(&self.reader, name).await
    }

    async fn list_keyword_templates(&self) -> StoreResult<Vec<(String, String)>> {
        queries::list_keyword_templates(&self.reader).await
    }

    async fn delete_keyword_template(&self, name: &str) -> StoreResult<bool> {
        let found = queries::delete_keyword_template(&self.writer, name).await?;
        if found {
            self.notify(ConfigChange::KeywordTemplate(name.to_owned()));
        }
        Ok(found)
    }

    async fn put_trust_data(&self, source: &str, key: &str, data: &Value) -> StoreResult<()> {
        queries::put_trust_data(&self.writer, source, key, data).await
    }

    async fn get_trust_data(&self, source: &str, key: &str) -> StoreResult<Option<Value>> {
        queries::get_trust_data(&self.reader, source, key).await
    }

    async fn delete_trust_data(&self, source: &str, key: &str) -> StoreResult<bool> {
        queries::delete_trust_data(&self.writer, source, key).await
    }

    async fn put_media_scan(&self, scan: &MediaScan) -> StoreResult<()> {
        queries::put_media_scan(&self.writer, scan).await
    }

    async fn get_media_scan(&self, mxc_uri: &str, community_id: &str) -> StoreResult<Option<MediaScan>> {
        queries::get_media_scan(&self.reader, mxc_uri, community_id).await
    }

    async fn enqueue_edu(&self, destination: &str, edu: &Value, now_ms: i64) -> StoreResult<()> {
        queries::enqueue_edu(&self.writer, destination, edu, now_ms).await
    }

    async fn take_edu_batch(
        &self,
        destination: &str,
        max: u32,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreResult<Option<EduBatch>> {
        queries::take_edu_batch(&self.writer, destination, max, now_ms, lease_ms).await
    }

    async fn ack_edu_batch(&self, destination: &str, txn_id: &str) -> StoreResult<u64> {
        queries::ack_edu_batch(&self.writer, destination, txn_id).await
    }

    async fn fail_edu_batch(&self, destination: &str, txn_id: &str, now_ms: i64) -> StoreResult<EduRetry> {
        queries::fail_edu_batch(&self.writer, destination, txn_id, now_ms).await
    }

    async fn destinations_needing_catchup(&self, now_ms: i64) -> StoreResult<Vec<String>> {
        queries::destinations_needing_catchup(&self.reader, now_ms).await
    }

    async fn get_txn_response(&self, origin: &str, txn_id: &str) -> StoreResult<Option<Value>> {
        queries::get_txn_response(&self.reader, origin, txn_id).await
    }

    async fn put_txn_response(
        &self,
        origin: &str,
        txn_id: &str,
        response: &Value,
        now_ms: i64,
    ) -> StoreResult<Value> {
        queries::put_txn_response(&self.writer, origin, txn_id, response, now_ms).await
    }

    async fn hellban(&self, community_id: &str, user_id: &str, expires_at_ms: i64) -> StoreResult<()> {
        match &self.verdict_inserts {
            // With the verdicts: no commit of its own under a spam wave, and no write on the second connection.
            Some(inserts) => {
                let ticket =
                    inserts.queue_hellban((community_id.to_owned(), user_id.to_owned(), expires_at_ms));
                let _turn = inserts.hellban_turn.lock().await;
                if !inserts.hellban_committed(ticket) {
                    let inserts = Arc::clone(inserts);
                    // The commit waits for fsync: not on a runtime thread.
                    tokio::task::spawn_blocking(move || inserts.write_queued_hellbans())
                        .await
                        .map_err(|_| crate::StoreError::WriterClosed)??;
                }
            }
            None => queries::hellban(&self.writer, community_id, user_id, expires_at_ms).await?,
        }
        self.hellbans.banned(community_id, user_id, expires_at_ms);
        Ok(())
    }

    async fn hellban_expiry(
        &self,
        community_id: &str,
        user_id: &str,
        now_ms: i64,
    ) -> StoreResult<Option<i64>> {
        self.hellbans.expiry(|| queries::all_hellbans(&self.reader), community_id, user_id, now_ms).await
    }

    async fn lift_hellban(&self, community_id: &str, user_id: &str) -> StoreResult<bool> {
        let lifted = queries::lift_hellban(&self.writer, community_id, user_id).await?;
        self.hellbans.lifted(community_id, user_id);
        Ok(lifted)
    }

    async fn record_and_count(
        &self,
        community_id: &str,
        counter: &str,
        key: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> StoreResult<u64> {
        queries::record_and_count(&self.writer, community_id, counter, key, now_ms, window_ms).await
    }

    async fn count_recent(
        &self,
        community_id: &str,
        counter: &str,
        key: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> StoreResult<u64> {
        queries::count_recent(&self.reader, community_id, counter, key, now_ms, window_ms).await
    }

    async fn subscribe_changes(&self) -> StoreResult<broadcast::Receiver<ConfigChange>> {
        Ok(self.changes.subscribe())
    }

    async fn prune(&self, older_than_ms: i64) -> StoreResult<PruneReport> {
        queries::prune(&self.writer, older_than_ms).await
    }

    /// `VACUUM INTO` writes a transactionally consistent, compacted copy without blocking readers.
    async fn backup_to(&self, path: &Path) -> StoreResult<()> {
        let target = path.to_string_lossy().into_owned();
        sqlx::query("VACUUM INTO $1").bind(target).execute(&self.writer).await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}
