//! The storage interface every backend implements.

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::{
    Community, ConfigChange, EduBatch, EduRetry, EvaluationClaim, EvaluationLock, JoinState, MediaScan,
    PruneReport, Room, ServerKey, StateEvent, StoreResult, StoredVerdict, VerdictLookup,
};

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (the default for single-instance deployments).
    Sqlite,
    /// PostgreSQL (production, shared by many instances).
    Postgres,
}

/// Verdict inserts that run on the calling thread and return when durable (see
/// [`Store::blocking_verdict_inserts`]).
pub trait BlockingVerdictInserts: Send + Sync {
    /// [`Store::insert_verdicts_if_absent`], on this thread.
    fn insert_verdicts_if_absent(&self, verdicts: &[StoredVerdict]) -> StoreResult<Vec<StoredVerdict>>;

    /// One step of the upkeep the inserts made due, called once their callers have their answers (so that none of
    /// them waits for it), and again while the writer is idle for as long as it returns `true`: for SQLite, the
    /// verdict index's upkeep and the WAL checkpoint.
    fn upkeep(&self) -> bool {
        false
    }
}

/// Persistent state of the policy server. Used as `Arc<dyn Store>`.
///
/// Times are milliseconds since the Unix epoch and are always passed in by the caller, so
/// behaviour that depends on time (hellbans, frequency windows, EDU backoff, retention) is
/// tested without sleeping.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The backend in use.
    fn backend(&self) -> Backend;

    // ----- communities -------------------------------------------------------------------

    /// Creates a community with a fresh KSUID-like ID, empty config and no permissions.
    async fn create_community(&self, name: &str) -> StoreResult<Community>;
    /// Inserts or replaces a community (its token hash is kept).
    async fn put_community(&self, community: &Community) -> StoreResult<()>;
    /// A community by ID.
    async fn get_community(&self, community_id: &str) -> StoreResult<Option<Community>>;
    /// All communities, ordered by ID.
    async fn list_communities(&self) -> StoreResult<Vec<Community>>;
    /// Replaces a community's config; `false` if the community does not exist.
    async fn set_community_config(&self, community_id: &str, config: &Value) -> StoreResult<bool>;
    /// Sets (hashed) or clears a community's API access token; `false` if the community does not exist.
    async fn set_community_access_token(&self, community_id: &str, token: Option<&str>) -> StoreResult<bool>;
    /// The community whose access token is `token` (compared by hash).
    async fn community_by_access_token(&self, token: &str) -> StoreResult<Option<Community>>;

    // ----- rooms ---------------------------------------------------------------------------

    /// Inserts or replaces a room.
    async fn put_room(&self, room: &Room) -> StoreResult<()>;
    /// A room by ID.
    async fn get_room(&self, room_id: &str) -> StoreResult<Option<Room>>;
    /// All rooms, ordered by ID.
    async fn list_rooms(&self) -> StoreResult<Vec<Room>>;
    /// The rooms of one community, ordered by ID.
    async fn list_community_rooms(&self, community_id: &str) -> StoreResult<Vec<Room>>;
    /// Updates a room's join state; `false` if the room does not exist.
    async fn set_room_join_state(&self, room_id: &str, state: JoinState) -> StoreResult<bool>;
    /// Sets or clears a room's per-room config override; `false` if the room does not exist.
    async fn set_room_overrides(&self, room_id: &str, overrides: Option<&Value>) -> StoreResult<bool>;
    /// Deletes a room and its state snapshot; `false` if it did not exist.
    async fn delete_room(&self, room_id: &str) -> StoreResult<bool>;

    // ----- room state ------------------------------------------------------------------------

    /// Upserts state events: each replaces whatever was stored for its `(type, state_key)`.
    async fn put_state_events(&self, room_id: &str, events: &[StateEvent]) -> StoreResult<()>;
    /// Replaces the room's whole snapshot atomically and records `now_ms` as its update time.
    async fn replace_room_state(&self, room_id: &str, events: &[StateEvent], now_ms: i64) -> StoreResult<()>;
    /// One state entry.
    async fn get_state_event(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
    ) -> StoreResult<Option<StateEvent>>;
    /// The room's whole snapshot, ordered by type then state key.
    async fn get_room_state(&self, room_id: &str) -> StoreResult<Vec<StateEvent>>;

    // ----- verdicts --------------------------------------------------------------------------

    /// Stores `verdict` unless one already exists for its `(room_id, event_id)`, and returns the
    /// verdict that is stored afterwards. When two evaluations race (here or at another instance),
    /// one wins and both callers get the winner: a verdict never flips. Callers must check
    /// [`StoredVerdict::matches_reference`] on the result for v1/v2 rooms.
    async fn insert_verdict_if_absent(&self, verdict: &StoredVerdict) -> StoreResult<StoredVerdict> {
        let mut stored = self.insert_verdicts_if_absent(std::slice::from_ref(verdict)).await?;
        stored.pop().ok_or(crate::StoreError::Corrupt {
            table: "verdicts",
            reason: "insert returned no row".to_owned(),
        })
    }
    /// [`Store::insert_verdict_if_absent`] for many verdicts in one transaction (group commit);
    /// results are in input order.
    async fn insert_verdicts_if_absent(&self, verdicts: &[StoredVerdict]) -> StoreResult<Vec<StoredVerdict>>;
    /// The verdicts stored for many `(room_id, event_id)` keys in one query, in input order (`None` where
    /// absent); callers check [`StoredVerdict::matches_reference`] themselves. (PostgreSQL's batched claims read
    /// their verdicts with the same query.)
    async fn get_verdicts(&self, keys: &[(&str, &str)]) -> StoreResult<Vec<Option<StoredVerdict>>>;
    /// Where the backend can store verdicts on the calling thread (SQLite files), the means to: group commit then
    /// runs on a thread of its own instead of handing every batch to a blocking thread and back.
    fn blocking_verdict_inserts(&self) -> Option<Arc<dyn BlockingVerdictInserts>> {
        None
    }
    /// The stored verdict for an event, checked against the event's reference hash.
    async fn get_verdict(
        &self,
        room_id: &str,
        event_id: &str,
        reference_hash: Option<&str>,
    ) -> StoreResult<VerdictLookup>;

    /// Claims the evaluation of `(room_id, event_id)`: the verdict stored for it, read while holding a lock that
    /// keeps other instances from evaluating the event until dropped. A caller that finds none decides, stores
    /// its verdict and only then drops the lock, so an event's filters (and their counters and hellbans) run once
    /// even when every instance is asked at the same moment. Backends serving a single process hold nothing;
    /// PostgreSQL takes a transaction-scoped advisory lock (waiting up to a timeout, after which this fails and
    /// the caller may evaluate anyway: the first stored verdict still wins).
    async fn claim_evaluation(
        &self,
        room_id: &str,
        event_id: &str,
        reference_hash: Option<&str>,
    ) -> StoreResult<EvaluationClaim> {
        let stored = self.get_verdict(room_id, event_id, reference_hash).await?;
        Ok(EvaluationClaim { stored, lock: EvaluationLock::unneeded() })
    }

    // ----- operator API (see `admin.rs`) ---------------------------------------------------------

    /// Deletes a community that has no rooms left; `false` if it does not exist or still has rooms.
    async fn delete_community(&self, community_id: &str) -> StoreResult<bool>;
    /// Every stored verdict for `event_id`, in any room, ordered by room ID.
    async fn verdicts_for_event(&self, event_id: &str) -> StoreResult<Vec<StoredVerdict>>;
    /// A page of one community's verdicts, newest first (see [`crate::VerdictQuery`]).
    async fn list_verdicts(&self, query: &crate::VerdictQuery) -> StoreResult<Vec<StoredVerdict>>;
    /// Verdicts of one community's rooms decided in `[since_ms, until_ms)`, counted per class and harm set.
    async fn count_verdicts(
        &self,
        community_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> StoreResult<Vec<crate::VerdictCount>>;

    // ----- outbox (see `outbox.rs`) ---------------------------------------------------------------

    /// Queues a side effect of `kind` for `target`, due at once; returns its ID.
    async fn enqueue_outbox(
        &self,
        kind: &str,
        target: &str,
        payload: &Value,
        now_ms: i64,
    ) -> StoreResult<i64>;
    /// Leases up to `max` due items of `kind` until `now_ms + lease_ms`, oldest first.
    async fn take_outbox(
        &self,
        kind: &str,
        max: u32,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreResult<Vec<crate::OutboxItem>>;
    /// Removes a delivered (or abandoned) item; `false` if it was gone.
    async fn ack_outbox(&self, id: i64) -> StoreResult<bool>;
    /// Records a failed attempt; the item is due again at `next_attempt_ms`.
    async fn retry_outbox(&self, id: i64, next_attempt_ms: i64, error: &str) -> StoreResult<bool>;
    /// How many items of `kind` are queued.
    async fn outbox_len(&self, kind: &str) -> StoreResult<u64>;

    // ----- remote server keys ------------------------------------------------------------------

    /// Caches a key. `valid_until_ts` only ever grows and `expired_ts`, once set, is kept, so a
    /// stale notary answer cannot shorten a key's life or revive an old key.
    async fn put_server_key(&self, key: &ServerKey) -> StoreResult<()>;
    /// One cached key.
    async fn get_server_key(&self, server_name: &str, key_id: &str) -> StoreResult<Option<ServerKey>>;
    /// All cached keys of a server, ordered by key ID.
    async fn get_server_keys(&self, server_name: &str) -> StoreResult<Vec<ServerKey>>;

    // ----- keyword templates -----------------------------------------------------------------

    /// Inserts or replaces a template.
    async fn put_keyword_template(&self, name: &str, body: &str) -> StoreResult<()>;
    /// A template body by name.
    async fn get_keyword_template(&self, name: &str) -> StoreResult<Option<String>>;
    /// All templates as `(name, body)`, ordered by name.
    async fn list_keyword_templates(&self) -> StoreResult<Vec<(String, String)>>;
    /// Deletes a template; `false` if absent.
    async fn delete_keyword_template(&self, name: &str) -> StoreResult<bool>;

    // ----- trust data --------------------------------------------------------------------------

    /// Inserts or replaces a trust-source record.
    async fn put_trust_data(&self, source: &str, key: &str, data: &Value) -> StoreResult<()>;
    /// A trust-source record.
    async fn get_trust_data(&self, source: &str, key: &str) -> StoreResult<Option<Value>>;
    /// Deletes a trust-source record; `false` if absent.
    async fn delete_trust_data(&self, source: &str, key: &str) -> StoreResult<bool>;

    // ----- media scans -------------------------------------------------------------------------

    /// Inserts or replaces the scan result for `(mxc_uri, community_id)`.
    async fn put_media_scan(&self, scan: &MediaScan) -> StoreResult<()>;
    /// The scan result for `(mxc_uri, community_id)`.
    async fn get_media_scan(&self, mxc_uri: &str, community_id: &str) -> StoreResult<Option<MediaScan>>;

    // ----- outbound EDU queue --------------------------------------------------------------------

    /// Queues an EDU for a destination.
    async fn enqueue_edu(&self, destination: &str, edu: &Value, now_ms: i64) -> StoreResult<()>;
    /// Leases up to `max` queued EDUs for `destination` until `now_ms + lease_ms`.
    ///
    /// `None` when nothing is queued, another sender holds an unexpired lease, or the destination
    /// is backing off. A batch that previously failed is returned again with the same transaction ID.
    async fn take_edu_batch(
        &self,
        destination: &str,
        max: u32,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreResult<Option<EduBatch>>;
    /// The batch was delivered: deletes its EDUs, clears backoff. Returns how many EDUs were removed.
    async fn ack_edu_batch(&self, destination: &str, txn_id: &str) -> StoreResult<u64>;
    /// The batch failed: keeps its EDUs (and transaction ID), releases the lease and backs off.
    async fn fail_edu_batch(&self, destination: &str, txn_id: &str, now_ms: i64) -> StoreResult<EduRetry>;
    /// Destinations with queued EDUs that are neither leased nor backing off at `now_ms`.
    async fn destinations_needing_catchup(&self, now_ms: i64) -> StoreResult<Vec<String>>;

    // ----- inbound federation transactions ---------------------------------------------------------

    /// The stored response to `(origin, txn_id)`, if that transaction was already processed.
    async fn get_txn_response(&self, origin: &str, txn_id: &str) -> StoreResult<Option<Value>>;
    /// Stores the response unless one exists; returns the stored one (first writer wins).
    async fn put_txn_response(
        &self,
        origin: &str,
        txn_id: &str,
        response: &Value,
        now_ms: i64,
    ) -> StoreResult<Value>;

    // ----- shared filter state -----------------------------------------------------------------------

    /// Hellbans `user_id` in a community until `expires_at_ms` (an existing longer ban is kept).
    async fn hellban(&self, community_id: &str, user_id: &str, expires_at_ms: i64) -> StoreResult<()>;
    /// The expiry of an active hellban at `now_ms`, if any.
    async fn hellban_expiry(
        &self,
        community_id: &str,
        user_id: &str,
        now_ms: i64,
    ) -> StoreResult<Option<i64>>;
    /// Lifts a hellban; `false` if there was none.
    async fn lift_hellban(&self, community_id: &str, user_id: &str) -> StoreResult<bool>;
    /// Records a hit at `now_ms` and returns the hits in `(now_ms - window_ms, ∞)`, this one
    /// included (future-dated hits count, as in policyserv). Shared by every handle on the database.
    /// Two hits committed at the same instant by different instances may each miss the other's
    /// uncommitted row, so a count can lag by the number of in-flight concurrent hits.
    async fn record_and_count(
        &self,
        community_id: &str,
        counter: &str,
        key: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> StoreResult<u64>;
    /// Like [`Store::record_and_count`] without recording a hit.
    async fn count_recent(
        &self,
        community_id: &str,
        counter: &str,
        key: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> StoreResult<u64>;

    // ----- change notification, retention, maintenance ---------------------------------------------

    /// A receiver of configuration changes (communities, rooms, keyword templates). On
    /// `RecvError::Lagged` the subscriber should reload everything, as for [`ConfigChange::Resync`].
    async fn subscribe_changes(&self) -> StoreResult<broadcast::Receiver<ConfigChange>>;
    /// Deletes verdicts (and traces), media scans, federation transaction responses, expired
    /// hellbans and frequency hits older than `older_than_ms`. Room state and communities are kept.
    async fn prune(&self, older_than_ms: i64) -> StoreResult<PruneReport>;
    /// Writes a consistent copy of the database to `path` while it stays online (SQLite only;
    /// PostgreSQL deployments use `pg_dump`).
    async fn backup_to(&self, path: &Path) -> StoreResult<()>;
    /// Round-trips a trivial query, for readiness checks (`/ready` should fail when this does).
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the connection pools; later calls fail.
    async fn close(&self);
}
