//! The PostgreSQL backend, for production and for many instances sharing one database.

mod evaluation_claims;
mod listener;
mod queries;
mod verdicts;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::{Mutex, broadcast};

use crate::hellban_mirror::HellbanMirror;
use crate::schema::ensure_not_newer;
use crate::{
    Backend, Community, ConfigChange, EduBatch, EduRetry, EvaluationClaim, JoinState, MediaScan, PruneReport,
    Room, ServerKey, StateEvent, Store, StoreError, StoreResult, StoredVerdict, VerdictLookup,
};

/// Migrations for PostgreSQL, embedded at compile time.
static MIGRATOR: Migrator = sqlx::sqlx_macros::migrate!("migrations/postgres");

/// Connections per instance for queries; with [`LOCK_CONNECTIONS`], PostgreSQL's default limit of 100 leaves room
/// for two instances and the operator's tools.
const MAX_CONNECTIONS: u32 = 10;

/// Claimed batches of events one instance may hold locked at once (each holds a connection until its last
/// verdict is committed, a few milliseconds with group commit; a batch claims every event that arrived while
/// the previous claim statement ran).
const LOCK_CONNECTIONS: u32 = 24;

/// Capacity of the change broadcast; a slower subscriber sees `Lagged` and resyncs.
const CHANGE_CAPACITY: usize = 256;

/// PostgreSQL store. Change notifications come from table triggers (`NOTIFY`), so every instance
/// on the database, and edits made by hand, are seen by every subscriber.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    changes: broadcast::Sender<ConfigChange>,
    /// The LISTEN task, started by the first subscriber and stopped with the last handle.
    listener: Arc<Mutex<Option<listener::ListenerTask>>>,
    /// Active hellbans, answered from memory once the listener keeps them current.
    hellbans: Arc<HellbanMirror>,
    /// Batched evaluation claims (see [`Store::claim_evaluation`]), on a pool of their own.
    claims: evaluation_claims::EvaluationClaims,
    /// Where lag-tolerant reads go: a read replica if configured, else `pool` itself.
    read: PgPool,
}

/// Pool settings shared by every pool. No ping before each use (sqlx's default): it doubles the round trips of
/// every query on the `/sign` path. A connection that died with the server fails one query and is then dropped.
fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().max_connections(MAX_CONNECTIONS).test_before_acquire(false)
}

impl PgStore {
    /// Connects to `url` (`postgres://...`) and applies pending migrations. Concurrent start-ups
    /// are safe: sqlx serialises migrations with an advisory lock.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let pool = pool_options().connect(url).await?;
        migrate(&pool).await?;
        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        let locks = pool_options()
            .max_connections(LOCK_CONNECTIONS)
            .connect_lazy_with(crate::evaluation_lock::lock_pool_options(&pool.connect_options()));
        let read = pool.clone();
        let claims = evaluation_claims::EvaluationClaims::spawn(locks);
        let hellbans = Arc::new(HellbanMirror::default());
        Ok(Self { pool, changes, listener: Arc::new(Mutex::new(None)), hellbans, claims, read })
    }

    /// Like [`PgStore::open`], sending lag-tolerant reads (room state, listings, keyword templates, trust data)
    /// to the read-only replica at `read_url`. Everything that must be current stays on `url`: verdicts (a
    /// verdict never flips), hellbans and frequency windows (shared between instances), community and room
    /// config (changes apply within a second), keys, queues. The replica is not migrated; it follows `url`.
    pub async fn open_with_replica(url: &str, read_url: &str) -> StoreResult<Self> {
        let mut store = Self::open(url).await?;
        store.read = pool_options().connect(read_url).await?;
        Ok(store)
    }

    /// Starts the LISTEN task unless it runs; changes committed after this returns are heard.
    async fn listen(&self) -> StoreResult<()> {
        let mut task = self.listener.lock().await;
        if task.is_none() {
            let hellbans = Arc::downgrade(&self.hellbans);
            *task = Some(listener::start(&self.pool, self.changes.clone(), hellbans).await?);
        }
        Ok(())
    }

    /// The underlying pool (for tests and tools that need raw SQL).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Checks the schema version and applies pending migrations.
async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let (exists,): (bool,) =
        sqlx::query_as("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await?;
    if exists {
        let (max,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(pool).await?;
        ensure_not_newer(max, &MIGRATOR)?;
    }
    MIGRATOR.run(pool).await?;
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn create_community(&self, name: &str) -> StoreResult<Community> {
        queries::create_community(&self.pool, name).await
    }

    async fn put_community(&self, community: &Community) -> StoreResult<()> {
        queries::put_community(&self.pool, community).await
    }

    async fn get_community(&self, community_id: &str) -> StoreResult<Option<Community>> {
        queries::get_community(&self.pool, community_id).await
    }

    async fn list_communities(&self) -> StoreResult<Vec<Community>> {
        queries::list_communities(&self.read).await
    }

    async fn set_community_config(&self, community_id: &str, config: &Value) -> StoreResult<bool> {
        queries::set_community_config(&self.pool, community_id, config).await
    }

    async fn set_community_access_token(&self, community_id: &str, token: Option<&str>) -> StoreResult<bool> {
        queries::set_community_access_token(&self.pool, community_id, token).await
    }

    async fn community_by_access_token(&self, token: &str) -> StoreResult<Option<Community>> {
        queries::community_by_access_token(&self.pool, token).await
    }

    async fn put_room(&self, room: &Room) -> StoreResult<()> {
        queries::put_room(&self.pool, room).await
    }

    async fn get_room(&self, room_id: &str) -> StoreResult<Option<Room>> {
        queries::get_room(&self.pool, room_id).await
    }

    async fn list_rooms(&self) -> StoreResult<Vec<Room>> {
        queries::list_rooms(&self.read, None).await
    }

    async fn list_community_rooms(&self, community_id: &str) -> StoreResult<Vec<Room>> {
        queries::list_rooms(&self.read, Some(community_id)).await
    }

    async fn set_room_join_state(&self, room_id: &str, state: JoinState) -> StoreResult<bool> {
        queries::set_room_join_state(&self.pool, room_id, state).await
    }

    async fn set_room_overrides(&self, room_id: &str, overrides: Option<&Value>) -> StoreResult<bool> {
        queries::set_room_overrides(&self.pool, room_id, overrides).await
    }

    async fn delete_room(&self, room_id: &str) -> StoreResult<bool> {
        queries::delete_room(&self.pool, room_id).await
    }

    async fn put_state_events(&self, room_id: &str, events: &[StateEvent]) -> StoreResult<()> {
        queries::put_state_events(&self.pool, room_id, events).await
    }

    async fn replace_room_state(&self, room_id: &str, events: &[StateEvent], now_ms: i64) -> StoreResult<()> {
        queries::replace_room_state(&self.pool, room_id, events, now_ms).await
    }

    async fn get_state_event(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
    ) -> StoreResult<Option<StateEvent>> {
        queries::get_state_event(&self.read, room_id, event_type, state_key).await
    }

    async fn get_room_state(&self, room_id: &str) -> StoreResult<Vec<StateEvent>> {
        queries::get_room_state(&self.read, room_id).await
    }

    async fn insert_verdicts_if_absent(&self, verdicts: &[StoredVerdict]) -> StoreResult<Vec<StoredVerdict>> {
        verdicts::insert_if_absent(&self.pool, verdicts).await
    }

    async fn get_verdicts(&self, keys: &[(&str, &str)]) -> StoreResult<Vec<Option<StoredVerdict>>> {
        verdicts::get(&mut *self.pool.acquire().await?, keys).await
    }

    async fn get_verdict(
        &self,
        room_id: &str,
        event_id: &str,
        reference_hash: Option<&str>,
    ) -> StoreResult<VerdictLookup> {
        let found = verdicts::get(&mut *self.pool.acquire().await?, &[(room_id, event_id)]).await?;
        Ok(VerdictLookup::of(found.into_iter().next().flatten(), reference_hash))
    }

    async fn delete_community(&self, community_id: &str) -> StoreResult<bool> {
        let found = queries::delete_community(&self.pool, community_id).await?;
        Ok(found)
    }

    async fn verdicts_for_event(&self, event_id: &str) -> StoreResult<Vec<StoredVerdict>> {
        queries::verdicts_for_event(&self.pool, event_id).await
    }

    async fn list_verdicts(&self, query: &crate::VerdictQuery) -> StoreResult<Vec<StoredVerdict>> {
        queries::list_verdicts(&self.pool, query).await
    }

    async fn count_verdicts(
        &self,
        community_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> StoreResult<Vec<crate::VerdictCount>> {
        queries::count_verdicts(&self.pool, community_id, since_ms, until_ms).await
    }

    async fn enqueue_outbox(
        &self,
        kind: &str,
        target: &str,
        payload: &Value,
        now_ms: i64,
    ) -> StoreResult<i64> {
        queries::enqueue_outbox(&self.pool, kind, target, payload, now_ms).await
    }

    async fn take_outbox(
        &self,
        kind: &str,
        max: u32,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreResult<Vec<crate::OutboxItem>> {
        queries::take_outbox(&self.pool, kind, max, now_ms, lease_ms).await
    }

    async fn ack_outbox(&self, id: i64) -> StoreResult<bool> {
        queries::ack_outbox(&self.pool, id).await
    }

    async fn retry_outbox(&self, id: i64, next_attempt_ms: i64, error: &str) -> StoreResult<bool> {
        queries::retry_outbox(&self.pool, id, next_attempt_ms, error).await
    }

    async fn outbox_len(&self, kind: &str) -> StoreResult<u64> {
        queries::outbox_len(&self.pool, kind).await
    }

    async fn put_server_key(&self, key: &ServerKey) -> StoreResult<()> {
        queries::put_server_key(&self.pool, key).await
    }

    async fn get_server_key(&self, server_name: &str, key_id: &str) -> StoreResult<Option<ServerKey>> {
        Ok(queries::get_server_keys(&self.pool, server_name, Some(key_id)).await?.pop())
    }

    async fn get_server_keys(&self, server_name: &str) -> StoreResult<Vec<ServerKey>> {
        queries::get_server_keys(&self.pool, server_name, None).await
    }

    async fn put_keyword_template(&self, name: &str, body: &str) -> StoreResult<()> {
        queries::put_keyword_template(&self.pool, name, body).await
    }

    async fn get_keyword_template(&self, name: &str) -> StoreResult<Option<String>> {
        queries::get_keyword_template(&self.read, name).await
    }

    async fn list_keyword_templates(&self) -> StoreResult<Vec<(String, String)>> {
        queries::list_keyword_templates(&self.read).await
    }

    async fn delete_keyword_template(&self, name: &str) -> StoreResult<bool> {
        queries::delete_keyword_template(&self.pool, name).await
    }

    async fn put_trust_data(&self, source: &str, key: &str, data: &Value) -> StoreResult<()> {
        queries::put_trust_data(&self.pool, source, key, data).await
    }

    async fn get_trust_data(&self, source: &str, key: &str) -> StoreResult<Option<Value>> {
        queries::get_trust_data(&self.read, source, key).await
    }

    async fn delete_trust_data(&self, source: &str, key: &str) -> StoreResult<bool> {
        queries::delete_trust_data(&self.pool, source, key).await
    }

    async fn put_media_scan(&self, scan: &MediaScan) -> StoreResult<()> {
        queries::put_media_scan(&self.pool, scan).await
    }

    async fn get_media_scan(&self, mxc_uri: &str, community_id: &str) -> StoreResult<Option<MediaScan>> {
        queries::get_media_scan(&self.pool, mxc_uri, community_id).await
    }

    async fn enqueue_edu(&self, destination: &str, edu: &Value, now_ms: i64) -> StoreResult<()> {
        queries::enqueue_edu(&self.pool, destination, edu, now_ms).await
    }

    async fn take_edu_batch(
        &self,
        destination: &str,
        max: u32,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreResult<Option<EduBatch>> {
        queries::take_edu_batch(&self.pool, destination, max, now_ms, lease_ms).await
    }

    async fn ack_edu_batch(&self, destination: &str, txn_id: &str) -> StoreResult<u64> {
        queries::ack_edu_batch(&self.pool, destination, txn_id).await
    }

    async fn fail_edu_batch(&self, destination: &str, txn_id: &str, now_ms: i64) -> StoreResult<EduRetry> {
        queries::fail_edu_batch(&self.pool, destination, txn_id, now_ms).await
    }

    async fn destinations_needing_catchup(&self, now_ms: i64) -> StoreResult<Vec<String>> {
        queries::destinations_needing_catchup(&self.pool, now_ms).await
    }

    async fn get_txn_response(&self, origin: &str, txn_id: &str) -> StoreResult<Option<Value>> {
        queries::get_txn_response(&self.pool, origin, txn_id).await
    }

    async fn put_txn_response(
        &self,
        origin: &str,
        txn_id: &str,
        response: &Value,
        now_ms: i64,
    ) -> StoreResult<Value> {
        queries::put_txn_response(&self.pool, origin, txn_id, response, now_ms).await
    }

    async fn hellban(&self, community_id: &str, user_id: &str, expires_at_ms: i64) -> StoreResult<()> {
        queries::hellban(&self.pool, community_id, user_id, expires_at_ms).await?;
        // At once for this instance; the trigger's notification brings it to the others (and again here).
        self.hellbans.banned(community_id, user_id, expires_at_ms);
        Ok(())
    }

    async fn hellban_expiry(
        &self,
        community_id: &str,
        user_id: &str,
        now_ms: i64,
    ) -> StoreResult<Option<i64>> {
        // The table is read only once the listener runs, so no later change is missed.
        let load = || async {
            self.listen().await?;
            queries::all_hellbans(&self.pool).await
        };
        self.hellbans.expiry(load, community_id, user_id, now_ms).await
    }

    async fn lift_hellban(&self, community_id: &str, user_id: &str) -> StoreResult<bool> {
        let lifted = queries::lift_hellban(&self.pool, community_id, user_id).await?;
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
        queries::record_and_count(&self.pool, community_id, counter, key, now_ms, window_ms).await
    }

    async fn count_recent(
        &self,
        community_id: &str,
        counter: &str,
        key: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> StoreResult<u64> {
        queries::count_recent(&self.pool, community_id, counter, key, now_ms, window_ms).await
    }

    async fn subscribe_changes(&self) -> StoreResult<broadcast::Receiver<ConfigChange>> {
        self.listen().await?;
        Ok(self.changes.subscribe())
    }

    async fn claim_evaluation(
        &self,
        room_id: &str,
        event_id: &str,
        reference_hash: Option<&str>,
    ) -> StoreResult<EvaluationClaim> {
        self.claims.claim(room_id, event_id, reference_hash).await
    }

    async fn prune(&self, older_than_ms: i64) -> StoreResult<PruneReport> {
        queries::prune(&self.pool, older_than_ms).await
    }

    async fn backup_to(&self, _path: &Path) -> StoreResult<()> {
        Err(StoreError::Unsupported { backend: "postgres", what: "online backup (use pg_dump)" })
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        // The LISTEN connection is checked out of the pool; closing waits for it, so stop it first.
        drop(self.listener.lock().await.take());
        self.claims.close().await;
        self.read.close().await;
        self.pool.close().await;
    }
}
