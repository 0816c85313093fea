//! Queries whose SQL is the same on SQLite and PostgreSQL.
//!
//! `portable_queries!(sqlx::Sqlite)` expands to free functions over `&sqlx::Pool<DB>`; each
//! backend instantiates it once. A macro is used instead of generic functions because sqlx's
//! generic bounds (encode/decode/executor per type) would drown the SQL. Only placeholders
//! `$N`, `ON CONFLICT ... excluded`, `RETURNING` and `CASE` are used: both engines accept them.

/// Expands to the portable query functions for one sqlx database type.
macro_rules! portable_queries {
    ($db:ty) => {
        use serde_json::Value;
        use sqlx::types::Json;

        use crate::rows::{CommunityRow, EduRow, MediaScanRow, RoomRow, ServerKeyRow, StateRow, VerdictRow};
        use crate::{
            Community, EduBatch, EduRetry, JoinState, MediaScan, PruneReport, Room, ServerKey, StateEvent,
            StoreResult, StoredVerdict, edu_retry_delay_ms, hash_access_token, new_id,
        };

        /// The pool type of this backend.
        type Pool = sqlx::Pool<$db>;

        /// Converts a SQL count to `u64` (counts are never negative).
        fn count(n: i64) -> u64 {
            u64::try_from(n).unwrap_or(0)
        }

        const COMMUNITY_COLUMNS: &str = "community_id, name, config, permissions, can_self_join_rooms";

        /// Inserts or replaces a community, keeping its token hash.
        pub(crate) async fn put_community(pool: &Pool, c: &Community) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO communities (community_id, name, config, permissions, can_self_join_rooms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (community_id) DO UPDATE SET \
                 name = excluded.name, config = excluded.config, permissions = excluded.permissions, \
                 can_self_join_rooms = excluded.can_self_join_rooms",
            )
            .bind(&c.id)
            .bind(&c.name)
            .bind(Json(&c.config))
            .bind(Json(&c.permissions))
            .bind(c.can_self_join_rooms)
            .execute(pool)
            .await?;
            Ok(())
        }

        /// Creates a community with a fresh ID.
        pub(crate) async fn create_community(pool: &Pool, name: &str) -> StoreResult<Community> {
            let community = Community::new(new_id(), name);
            put_community(pool, &community).await?;
            Ok(community)
        }

        /// A community by ID.
        pub(crate) async fn get_community(pool: &Pool, id: &str) -> StoreResult<Option<Community>> {
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT {COMMUNITY_COLUMNS} FROM communities WHERE community_id = $1"
            ));
            let row: Option<CommunityRow> = sqlx::query_as(sql).bind(id).fetch_optional(pool).await?;
            Ok(row.map(Community::from))
        }

        /// All communities.
        pub(crate) async fn list_communities(pool: &Pool) -> StoreResult<Vec<Community>> {
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT {COMMUNITY_COLUMNS} FROM communities ORDER BY community_id"
            ));
            let rows: Vec<CommunityRow> = sqlx::query_as(sql).fetch_all(pool).await?;
            Ok(rows.into_iter().map(Community::from).collect())
        }

        /// Replaces a community's config.
        pub(crate) async fn set_community_config(pool: &Pool, id: &str, config: &Value) -> StoreResult<bool> {
            let done = sqlx::query("UPDATE communities SET config = $2 WHERE community_id = $1")
                .bind(id)
                .bind(Json(config))
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        }

        /// Sets or clears the hashed access token.
        pub(crate) async fn set_community_access_token(
            pool: &Pool,
            id: &str,
            token: Option<&str>,
        ) -> StoreResult<bool> {
            let done = sqlx::query("UPDATE communities SET access_token_hash = $2 WHERE community_id = $1")
                .bind(id)
                .bind(token.map(hash_access_token))
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        }

        /// The community holding `token`.
        pub(crate) async fn community_by_access_token(pool: &Pool, token: &str) -> StoreResult<Option<Community>> {
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT {COMMUNITY_COLUMNS} FROM communities WHERE access_token_hash = $1"
            ));
            let row: Option<CommunityRow> =
                sqlx::query_as(sql).bind(hash_access_token(token)).fetch_optional(pool).await?;
            Ok(row.map(Community::from))
        }

        const ROOM_COLUMNS: &str = "room_id, room_version, community_id, join_state, moderator_user_id, \
                                    overrides, last_state_update_ms";

        /// Inserts or replaces a room.
        pub(crate) async fn put_room(pool: &Pool, room: &Room) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO rooms (room_id, room_version, community_id, join_state, moderator_user_id, \
                 overrides, last_state_update_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (room_id) DO UPDATE SET room_version = excluded.room_version, \
                 community_id = excluded.community_id, join_state = excluded.join_state, \
                 moderator_user_id = excluded.moderator_user_id, overrides = excluded.overrides, \
                 last_state_update_ms = excluded.last_state_update_ms",
            )
            .bind(&room.room_id)
            .bind(&room.room_version)
            .bind(&room.community_id)
            .bind(room.join_state.as_str())
            .bind(room.moderator_user_id.as_deref())
            .bind(room.overrides.as_ref().map(Json))
            .bind(room.last_state_update_ms)
            .execute(pool)
            .await?;
            Ok(())
        }

        /// A room by ID.
        pub(crate) async fn get_room(pool: &Pool, room_id: &str) -> StoreResult<Option<Room>> {
            let sql = sqlx::AssertSqlSafe(format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE room_id = $1"));
            let row: Option<RoomRow> = sqlx::query_as(sql).bind(room_id).fetch_optional(pool).await?;
            row.map(Room::try_from).transpose()
        }

        /// All rooms, or one community's when `community_id` is given.
        pub(crate) async fn list_rooms(pool: &Pool, community_id: Option<&str>) -> StoreResult<Vec<Room>> {
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT {ROOM_COLUMNS} FROM rooms WHERE ($1 IS NULL OR community_id = $1) ORDER BY room_id"
            ));
            let rows: Vec<RoomRow> = sqlx::query_as(sql).bind(community_id).fetch_all(pool).await?;
            rows.into_iter().map(Room::try_from).collect()
        }

        /// Updates a room's join state.
        pub(crate) async fn set_room_join_state(pool: &Pool, room_id: &str, state: JoinState) -> StoreResult<bool> {
            let done = sqlx::query("UPDATE rooms SET join_state = $2 WHERE room_id = $1")
                .bind(room_id)
                .bind(state.as_str())
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        }

        /// Sets or clears a room's override.
        pub(crate) async fn set_room_overrides(
            pool: &Pool,
            room_id: &str,
            overrides: Option<&Value>,
        ) -> StoreResult<bool> {
            let done = sqlx::query("UPDATE rooms SET overrides = $2 WHERE room_id = $1")
                .bind(room_id)
                .bind(overrides.map(Json))
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        }

        /// Deletes a room (its state goes with it through `ON DELETE CASCADE`).
        pub(crate) async fn delete_room(pool: &Pool, room_id: &str) -> StoreResult<bool> {
            let done = sqlx::query("DELETE FROM rooms WHERE room_id = $1").bind(room_id).execute(pool).await?;
            Ok(done.rows_affected() > 0)
        }

        const UPSERT_STATE: &str = "INSERT INTO room_state (room_id, event_type, state_key, event_id, event) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id, event_type, state_key) DO UPDATE SET \
             event_id = excluded.event_id, event = excluded.event";

        /// Upserts state events in one transaction.
        pub(crate) async fn put_state_events(pool: &Pool, room_id: &str, events: &[StateEvent]) -> StoreResult<()> {
            let mut tx = pool.begin().await?;
            for event in events {
                sqlx::query(UPSERT_STATE)
                    .bind(room_id)
                    .bind(&event.event_type)
                    .bind(&event.state_key)
                    .bind(&event.event_id)
                    .bind(Json(&event.event))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        /// Replaces the whole snapshot in one transaction and stamps the room.
        pub(crate) async fn replace_room_state(
            pool: &Pool,
            room_id: &str,
            events: &[StateEvent],
            now_ms: i64,
        ) -> StoreResult<()> {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE rooms SET last_state_update_ms = $2 WHERE room_id = $1")
                .bind(room_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM room_state WHERE room_id = $1").bind(room_id).execute(&mut *tx).await?;
            for event in events {
                sqlx::query(UPSERT_STATE)
                    .bind(room_id)
                    .bind(&event.event_type)
                    .bind(&event.state_key)
                    .bind(&event.event_id)
                    .bind(Json(&event.event))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        /// One state entry.
        pub(crate) async fn get_state_event(
            pool: &Pool,
            room_id: &str,
            event_type: &str,
            state_key: &str,
        ) -> StoreResult<Option<StateEvent>> {
            let row: Option<StateRow> = sqlx::query_as(
                "SELECT event_type, state_key, event_id, event FROM room_state \
                 WHERE room_id = $1 AND event_type = $2 AND state_key = $3",
            )
            .bind(room_id)
            .bind(event_type)
            .bind(state_key)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(StateEvent::from))
        }

        /// The whole snapshot.
        pub(crate) async fn get_room_state(pool: &Pool, room_id: &str) -> StoreResult<Vec<StateEvent>> {
            let rows: Vec<StateRow> = sqlx::query_as(
                "SELECT event_type, state_key, event_id, event FROM room_state \
                 WHERE room_id = $1 ORDER BY event_type, state_key",
            )
            .bind(room_id)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(StateEvent::from).collect())
        }

        /// Caches a server key without ever shortening its validity or un-expiring it.
        pub(crate) async fn put_server_key(pool: &Pool, key: &ServerKey) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO server_keys (server_name, key_id, public_key, valid_until_ts, expired_ts) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (server_name, key_id) DO UPDATE SET \
                 public_key = excluded.public_key, \
                 valid_until_ts = CASE WHEN excluded.valid_until_ts > server_keys.valid_until_ts \
                     THEN excluded.valid_until_ts ELSE server_keys.valid_until_ts END, \
                 expired_ts = COALESCE(server_keys.expired_ts, excluded.expired_ts)",
            )
            .bind(&key.server_name)
            .bind(&key.key_id)
            .bind(&key.public_key)
            .bind(key.valid_until_ts)
            .bind(key.expired_ts)
            .execute(pool)
            .await?;
            Ok(())
        }

        /// Cached keys of a server, optionally only `key_id`.
        pub(crate) async fn get_server_keys(
            pool: &Pool,
            server_name: &str,
            key_id: Option<&str>,
        ) -> StoreResult<Vec<ServerKey>> {
            let rows: Vec<ServerKeyRow> = sqlx::query_as(
                "SELECT server_name, key_id, public_key, valid_until_ts, expired_ts FROM server_keys \
                 WHERE server_name = $1 AND ($2 IS NULL OR key_id = $2) ORDER BY key_id",
            )
            .bind(server_name)
            .bind(key_id)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(ServerKey::from).collect())
        }

        /// Inserts or replaces a keyword template.
        pub(crate) async fn put_keyword_template(pool: &Pool, name: &str, body: &str) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO keyword_templates (name, body) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET body = excluded.body",
            )
            .bind(name)
            .bind(body)
            .execute(pool)
            .await?;
            Ok(())
        }

        /// A keyword template body.
        pub(crate) async fn get_keyword_template(pool: &Pool, name: &str) -> StoreResult<Option<String>> {
            let row: Option<(String,)> = sqlx::query_as("SELECT body FROM keyword_templates WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(|(body,)| body))
        }

        /// All keyword templates.
        pub(crate) async fn list_keyword_templates(pool: &Pool) -> StoreResult<Vec<(String, String)>> {
            Ok(sqlx::query_as("SELECT name, body FROM keyword_templates ORDER BY name").fetch_all(pool).await?)
        }

        /// Deletes a keyword template.
        pub(crate) async fn delete_keyword_template(pool: &Pool, name: &str) -> StoreResult<bool> {
            let done =
                sqlx::query("DELETE FROM keyword_templates WHERE name = $1").bind(name).execute(pool).await?;
            Ok(done.rows_affected() > 0)
        }

        /// Inserts or replaces trust data.
        pub(crate) async fn put_trust_data(pool: &Pool, source: &str, key: &str, data: &Value) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO trust_data (source, key, data) VALUES ($1, $2, $3) \
                 ON CONFLICT (source, key) DO UPDATE SET data = excluded.data",
            )
            .bind(source)
            .bind(key)
            .bind(Json(data))
            .execute(pool)
            .await?;
            Ok(())
        }

        /// Trust data for `(source, key)`.
        pub(crate) async fn get_trust_data(pool: &Pool, source: &str, key: &str) -> StoreResult<Option<Value>> {
            let row: Option<(Json<Value>,)> =
                sqlx::query_as("SELECT data FROM trust_data WHERE source = $1 AND key = $2")
                    .bind(source)
                    .bind(key)
                    .fetch_optional(pool)
                    .await?;
            Ok(row.map(|(data,)| data.0))
        }

        /// Deletes trust data.
        pub(crate) async fn delete_trust_data(pool: &Pool, source: &str, key: &str) -> StoreResult<bool> {
            let done = sqlx::query("DELETE FROM trust_data WHERE source = $1 AND key = $2")
                .bind(source)
                .bind(key)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        }

        /// Inserts or replaces a media scan result.
        pub(crate) async fn put_media_scan(pool: &Pool, scan: &MediaScan) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO media_scans (mxc_uri, community_id, class, harms, scanned_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (mxc_uri, community_id) DO UPDATE SET \
                 class = excluded.class, harms = excluded.harms, scanned_at_ms = excluded.scanned_at_ms",
            )
            .bind(&scan.mxc_uri)
            .bind(&scan.community_id)
            .bind(scan.class.as_str())
            .bind(Json(&scan.harms))
            .bind(scan.scanned_at_ms)
            .execute(pool)
            .await?;
            Ok(())
        }

        /// A media scan result.
        pub(crate) async fn get_media_scan(
            pool: &Pool,
            mxc_uri: &str,
            community_id: &str,
        ) -> StoreResult<Option<MediaScan>> {
            let row: Option<MediaScanRow> = sqlx::query_as(
                "SELECT mxc_uri, community_id, class, harms, scanned_at_ms FROM media_scans \
                 WHERE mxc_uri = $1 AND community_id = $2",
            )
            .bind(mxc_uri)
            .bind(community_id)
            .fetch_optional(pool)
            .await?;
            row.map(MediaScan::try_from).transpose()
        }

        /// Queues an EDU, creating the destination row on first use.
        pub(crate) async fn enqueue_edu(pool: &Pool, destination: &str, edu: &Value, now_ms: i64) -> StoreResult<()> {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO edu_destinations (destination) VALUES ($1) ON CONFLICT (destination) DO NOTHING")
                .bind(destination)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO edu_queue (destination, edu, queued_at_ms) VALUES ($1, $2, $3)")
                .bind(destination)
                .bind(Json(edu))
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }

        /// Leases a batch; see [`crate::Store::take_edu_batch`].
        pub(crate) async fn take_edu_batch(
            pool: &Pool,
            destination: &str,
            max: u32,
            now_ms: i64,
            lease_ms: i64,
        ) -> StoreResult<Option<EduBatch>> {
            let mut tx = pool.begin().await?;
            // The conditional UPDATE is the lock: only one sender can move an expired lease forward.
            let claimed: Option<(Option<String>,)> = sqlx::query_as(
                "UPDATE edu_destinations SET leased_until_ms = $2 WHERE destination = $1 \
                 AND leased_until_ms <= $3 AND next_attempt_ms <= $3 RETURNING current_txn_id",
            )
            .bind(destination)
            .bind(now_ms.saturating_add(lease_ms))
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((pinned,)) = claimed else {
                return Ok(None);
            };
            let txn_id = match pinned {
                Some(txn_id) => txn_id,
                None => {
                    let txn_id = new_id();
                    sqlx::query(
                        "UPDATE edu_queue SET txn_id = $1 WHERE id IN (SELECT id FROM edu_queue \
                         WHERE destination = $2 AND txn_id IS NULL ORDER BY id LIMIT $3)",
                    )
                    .bind(&txn_id)
                    .bind(destination)
                    .bind(i64::from(max))
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE edu_destinations SET current_txn_id = $2 WHERE destination = $1")
                        .bind(destination)
                        .bind(&txn_id)
                        .execute(&mut *tx)
                        .await?;
                    txn_id
                }
            };
            let rows: Vec<EduRow> =
                sqlx::query_as("SELECT id, edu FROM edu_queue WHERE destination = $1 AND txn_id = $2 ORDER BY id")
                    .bind(destination)
                    .bind(&txn_id)
                    .fetch_all(&mut *tx)
                    .await?;
            if rows.is_empty() {
                // Nothing to send: hand the lease back at once.
                sqlx::query(
                    "UPDATE edu_destinations SET leased_until_ms = 0, current_txn_id = NULL WHERE destination = $1",
                )
                .bind(destination)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(None);
            }
            tx.commit().await?;
            Ok(Some(EduBatch {
                destination: destination.to_owned(),
                txn_id,
                edus: rows.into_iter().map(Into::into).collect(),
            }))
        }

        /// Deletes a delivered batch and resets the destination's backoff.
        pub(crate) async fn ack_edu_batch(pool: &Pool, destination: &str, txn_id: &str) -> StoreResult<u64> {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("DELETE FROM edu_queue WHERE destination = $1 AND txn_id = $2")
                .bind(destination)
                .bind(txn_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE edu_destinations SET current_txn_id = NULL, leased_until_ms = 0, failures = 0, \
                 next_attempt_ms = 0 WHERE destination = $1 AND current_txn_id = $2",
            )
            .bind(destination)
            .bind(txn_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        }

        /// Releases a failed batch and schedules the next attempt.
        pub(crate) async fn fail_edu_batch(
            pool: &Pool,
            destination: &str,
            txn_id: &str,
            now_ms: i64,
        ) -> StoreResult<EduRetry> {
            let mut tx = pool.begin().await?;
            let bumped: Option<(i32,)> = sqlx::query_as(
                "UPDATE edu_destinations SET failures = failures + 1, leased_until_ms = 0 \
                 WHERE destination = $1 AND current_txn_id = $2 RETURNING failures",
            )
            .bind(destination)
            .bind(txn_id)
            .fetch_optional(&mut *tx)
            .await?;
            let retry = match bumped {
                Some((failures,)) => {
                    let failures = u32::try_from(failures).unwrap_or(0);
                    let next_attempt_ms = now_ms.saturating_add(edu_retry_delay_ms(failures));
                    sqlx::query("UPDATE edu_destinations SET next_attempt_ms = $2 WHERE destination = $1")
                        .bind(destination)
                        .bind(next_attempt_ms)
                        .execute(&mut *tx)
                        .await?;
                    EduRetry { failures, next_attempt_ms }
                }
                // A stale report (the batch was already acknowledged): report the current state.
                None => {
                    let current: Option<(i32, i64)> = sqlx::query_as(
                        "SELECT failures, next_attempt_ms FROM edu_destinations WHERE destination = $1",
                    )
                    .bind(destination)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let (failures, next_attempt_ms) = current.unwrap_or((0, now_ms));
                    EduRetry { failures: u32::try_from(failures).unwrap_or(0), next_attempt_ms }
                }
            };
            tx.commit().await?;
            Ok(retry)
        }

        /// Destinations ready to be sent to.
        pub(crate) async fn destinations_needing_catchup(pool: &Pool, now_ms: i64) -> StoreResult<Vec<String>> {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT d.destination FROM edu_destinations d WHERE d.leased_until_ms <= $1 \
                 AND d.next_attempt_ms <= $1 \
                 AND EXISTS (SELECT 1 FROM edu_queue q WHERE q.destination = d.destination) \
                 ORDER BY d.destination",
            )
            .bind(now_ms)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(d,)| d).collect())
        }

        /// The stored response of a processed transaction.
        pub(crate) async fn get_txn_response(pool: &Pool, origin: &str, txn_id: &str) -> StoreResult<Option<Value>> {
            let row: Option<(Json<Value>,)> =
                sqlx::query_as("SELECT response FROM federation_txns WHERE origin = $1 AND txn_id = $2")
                    .bind(origin)
                    .bind(txn_id)
                    .fetch_optional(pool)
                    .await?;
            Ok(row.map(|(r,)| r.0))
        }

        /// Stores a transaction response unless present; returns the stored one.
        pub(crate) async fn put_txn_response(
            pool: &Pool,
            origin: &str,
            txn_id: &str,
            response: &Value,
            now_ms: i64,
        ) -> StoreResult<Value> {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO federation_txns (origin, txn_id, response, received_at_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (origin, txn_id) DO NOTHING",
            )
            .bind(origin)
            .bind(txn_id)
            .bind(Json(response))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            let (stored,): (Json<Value>,) =
                sqlx::query_as("SELECT response FROM federation_txns WHERE origin = $1 AND txn_id = $2")
                    .bind(origin)
                    .bind(txn_id)
                    .fetch_one(&mut *tx)
                    .await?;
            tx.commit().await?;
            Ok(stored.0)
        }

        /// Records or extends a hellban.
        pub(crate) async fn hellban(pool: &Pool, community_id: &str, user_id: &str, expires_at_ms: i64) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO hellbans (community_id, user_id, expires_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (community_id, user_id) DO UPDATE SET expires_at_ms = \
                 CASE WHEN excluded.expires_at_ms > hellbans.expires_at_ms \
                 THEN excluded.expires_at_ms ELSE hellbans.expires_at_ms END",
            )
            .bind(community_id)
            .bind(user_id)
            .bind(expires_at_ms)
            .execute(pool)
            .await?;
            Ok(())
        }

        /// Every hellban, expired ones too (for the in-memory mirror, which decides at each lookup whether a ban
        /// is active; retention prunes expired rows).
        pub(crate) async fn all_hellbans(pool: &Pool) -> StoreResult<Vec<(String, String, i64)>> {
            Ok(sqlx::query_as("SELECT community_id, user_id, expires_at_ms FROM hellbans").fetch_all(pool).await?)
        }

        /// Lifts a hellban.
        pub(crate) async fn lift_hellban(pool: &Pool, community_id: &str, user_id: &str) -> StoreResult<bool> {
            let done = sqlx::query("DELETE FROM hellbans WHERE community_id = $1 AND user_id = $2")
                .bind(community_id)
                .bind(user_id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        }

        const COUNT_HITS: &str = "SELECT COUNT(*) FROM frequency_hits \
             WHERE community_id = $1 AND counter = $2 AND key = $3 AND at_ms > $4";

        /// Records a hit and counts the window, trimming hits that fell out of it.
        pub(crate) async fn record_and_count(
            pool: &Pool,
            community_id: &str,
            counter: &str,
            key: &str,
            now_ms: i64,
            window_ms: i64,
        ) -> StoreResult<u64> {
            let window_start = now_ms.saturating_sub(window_ms);
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO frequency_hits (community_id, counter, key, at_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(community_id)
            .bind(counter)
            .bind(key)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM frequency_hits WHERE community_id = $1 AND counter = $2 AND key = $3 AND at_ms <= $4",
            )
            .bind(community_id)
            .bind(counter)
            .bind(key)
            .bind(window_start)
            .execute(&mut *tx)
            .await?;
            let (n,): (i64,) = sqlx::query_as(COUNT_HITS)
                .bind(community_id)
                .bind(counter)
                .bind(key)
                .bind(window_start)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(count(n))
        }

        /// Counts the window without recording.
        pub(crate) async fn count_recent(
            pool: &Pool,
            community_id: &str,
            counter: &str,
            key: &str,
            now_ms: i64,
            window_ms: i64,
        ) -> StoreResult<u64> {
            let (n,): (i64,) = sqlx::query_as(COUNT_HITS)
                .bind(community_id)
                .bind(counter)
                .bind(key)
                .bind(now_ms.saturating_sub(window_ms))
                .fetch_one(pool)
                .await?;
            Ok(count(n))
        }

        /// Deletes expendable rows older than the cut-off, in one transaction.
        pub(crate) async fn prune(pool: &Pool, older_than_ms: i64) -> StoreResult<PruneReport> {
            let mut tx = pool.begin().await?;
            let mut deleted = [0u64; 5];
            let statements = [
                "DELETE FROM verdicts WHERE decided_at_ms < $1",
                "DELETE FROM media_scans WHERE scanned_at_ms < $1",
                "DELETE FROM federation_txns WHERE received_at_ms < $1",
                "DELETE FROM hellbans WHERE expires_at_ms < $1",
                "DELETE FROM frequency_hits WHERE at_ms < $1",
            ];
            for (slot, sql) in deleted.iter_mut().zip(statements) {
                *slot = sqlx::query(sql).bind(older_than_ms).execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            let [verdicts, media_scans, federation_txns, hellbans, frequency_hits] = deleted;
            Ok(PruneReport { verdicts, media_scans, federation_txns, hellbans, frequency_hits })
        }
    };
}

pub(crate) use portable_queries;
