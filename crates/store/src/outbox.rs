//! The outbox: a durable queue of side effects (community webhooks today) that a worker leases, tries, and acks or
//! reschedules. Items survive restarts; a lease keeps two instances from sending one item at once.

/// One queued side effect.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// Queue position.
    pub id: i64,
    /// What kind of side effect (`webhook`).
    pub kind: String,
    /// Where it goes (a URL for webhooks).
    pub target: String,
    /// What to send.
    pub payload: serde_json::Value,
    /// Failed attempts so far.
    pub attempts: i32,
}

/// Expands to the outbox query functions inside a backend's `queries` module (after `portable_queries!`).
macro_rules! outbox_queries {
    () => {
        use crate::OutboxItem;

        /// Queues an item, due at once.
        pub(crate) async fn enqueue_outbox(
            pool: &Pool,
            kind: &str,
            target: &str,
            payload: &Value,
            now_ms: i64,
        ) -> StoreResult<i64> {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO outbox (kind, target, payload, next_attempt_ms, created_ms) \
                 VALUES ($1, $2, $3, $4, $4) RETURNING id",
            )
            .bind(kind)
            .bind(target)
            .bind(Json(payload))
            .bind(now_ms)
            .fetch_one(pool)
            .await?;
            Ok(id)
        }

        /// Leases up to `max` due, unleased items of `kind` until `now_ms + lease_ms`, oldest first.
        pub(crate) async fn take_outbox(
            pool: &Pool,
            kind: &str,
            max: u32,
            now_ms: i64,
            lease_ms: i64,
        ) -> StoreResult<Vec<OutboxItem>> {
            // The outer condition is checked again under the row lock, so two instances never lease one item.
            let rows: Vec<(i64, String, String, Json<Value>, i32)> = sqlx::query_as(
                "UPDATE outbox SET lease_until_ms = $1 WHERE id IN (SELECT id FROM outbox WHERE kind = $2 \
                 AND next_attempt_ms <= $3 AND lease_until_ms <= $3 ORDER BY id LIMIT $4) \
                 AND lease_until_ms <= $3 RETURNING id, kind, target, payload, attempts",
            )
            .bind(now_ms.saturating_add(lease_ms))
            .bind(kind)
            .bind(now_ms)
            .bind(i64::from(max))
            .fetch_all(pool)
            .await?;
            let mut items: Vec<OutboxItem> = rows
                .into_iter()
                .map(|(id, kind, target, payload, attempts)| OutboxItem {
                    id,
                    kind,
                    target,
                    payload: payload.0,
                    attempts,
                })
                .collect();
            items.sort_by_key(|item| item.id);
            Ok(items)
        }

        /// Removes a delivered (or abandoned) item; `false` if it was gone.
        pub(crate) async fn ack_outbox(pool: &Pool, id: i64) -> StoreResult<bool> {
            let done = sqlx::query("DELETE FROM outbox WHERE id = $1").bind(id).execute(pool).await?;
            Ok(done.rows_affected() > 0)
        }

        /// Records a failed attempt and makes the item due again at `next_attempt_ms`.
        pub(crate) async fn retry_outbox(
            pool: &Pool,
            id: i64,
            next_attempt_ms: i64,
            error: &str,
        ) -> StoreResult<bool> {
            let done = sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = $2, lease_until_ms = 0, \
                 last_error = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(next_attempt_ms)
            .bind(error)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        }

        /// How many items of `kind` are queued.
        pub(crate) async fn outbox_len(pool: &Pool, kind: &str) -> StoreResult<u64> {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE kind = $1")
                .bind(kind)
                .fetch_one(pool)
                .await?;
            Ok(count(n))
        }
    };
}

pub(crate) use outbox_queries;
