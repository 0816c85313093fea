//! Queries behind the operator and community API: deleting communities, looking verdicts up by event ID,
//! listing a community's recent decisions with paging, and counting decisions per harm.

/// Which stored verdicts [`crate::Store::list_verdicts`] returns, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerdictQuery {
    /// Only verdicts of rooms currently in this community.
    pub community_id: String,
    /// Only verdicts of this room.
    pub room_id: Option<String>,
    /// Only refused (prohibited) verdicts.
    pub prohibited_only: bool,
    /// Only verdicts decided strictly before this position (the last item of the previous page).
    pub before: Option<VerdictCursor>,
    /// At most this many verdicts.
    pub limit: u32,
}

/// A position in the newest-first order of verdicts: `(decided_at_ms, room_id, event_id)` descending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictCursor {
    /// When the verdict was decided.
    pub decided_at_ms: i64,
    /// Its room.
    pub room_id: String,
    /// Its event.
    pub event_id: String,
}

/// How many verdicts of one class with one exact set of harms were decided in a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictCount {
    /// The class.
    pub class: crate::VerdictClass,
    /// The verdicts' sorted harm IDs.
    pub harms: Vec<String>,
    /// How many.
    pub count: u64,
}

/// Expands to the admin query functions for one sqlx database type, inside a backend's `queries` module (after
/// `portable_queries!`, whose imports and `Pool` alias it uses).
macro_rules! admin_queries {
    () => {
        use crate::{VerdictClass, VerdictCount, VerdictQuery};

        const ADMIN_VERDICT_COLUMNS: &str = "v.room_id, v.event_id, v.reference_hash, v.class, v.harms, \
             v.expiry_ms, v.trace, v.decided_at_ms";

        /// Deletes a community that has no rooms; `Ok(false)` if it did not exist.
        pub(crate) async fn delete_community(pool: &Pool, community_id: &str) -> StoreResult<bool> {
            let done = sqlx::query(
                "DELETE FROM communities WHERE community_id = $1 \
                 AND NOT EXISTS (SELECT 1 FROM rooms WHERE rooms.community_id = $1)",
            )
            .bind(community_id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        }

        /// Every stored verdict for an event ID, in any room, ordered by room ID.
        pub(crate) async fn verdicts_for_event(
            pool: &Pool,
            event_id: &str,
        ) -> StoreResult<Vec<StoredVerdict>> {
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT {ADMIN_VERDICT_COLUMNS} FROM verdicts v WHERE v.event_id = $1 ORDER BY v.room_id"
            ));
            let rows: Vec<VerdictRow> = sqlx::query_as(sql).bind(event_id).fetch_all(pool).await?;
            rows.into_iter().map(StoredVerdict::try_from).collect()
        }

        /// A page of a community's verdicts, newest first.
        pub(crate) async fn list_verdicts(
            pool: &Pool,
            query: &VerdictQuery,
        ) -> StoreResult<Vec<StoredVerdict>> {
            // Absent filters bind values that make their condition true, so one statement serves every query.
            let (cursor_ms, cursor_room, cursor_event, has_cursor) = match &query.before {
                Some(c) => (c.decided_at_ms, c.room_id.as_str(), c.event_id.as_str(), true),
                None => (0, "", "", false),
            };
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT {ADMIN_VERDICT_COLUMNS} FROM verdicts v JOIN rooms r ON r.room_id = v.room_id \
                 WHERE r.community_id = $1 \
                 AND ($2 = '' OR v.room_id = $2) \
                 AND ($3 = FALSE OR v.class = 'prohibited') \
                 AND ($4 = FALSE OR v.decided_at_ms < $5 OR (v.decided_at_ms = $5 AND \
                      (v.room_id < $6 OR (v.room_id = $6 AND v.event_id < $7)))) \
                 ORDER BY v.decided_at_ms DESC, v.room_id DESC, v.event_id DESC LIMIT $8"
            ));
            let rows: Vec<VerdictRow> = sqlx::query_as(sql)
                .bind(&query.community_id)
                .bind(query.room_id.as_deref().unwrap_or(""))
                .bind(query.prohibited_only)
                .bind(has_cursor)
                .bind(cursor_ms)
                .bind(cursor_room)
                .bind(cursor_event)
                .bind(i64::from(query.limit))
                .fetch_all(pool)
                .await?;
            rows.into_iter().map(StoredVerdict::try_from).collect()
        }

        /// Verdicts of a community's rooms decided in `[since_ms, until_ms)`, counted per class and harm set.
        pub(crate) async fn count_verdicts(
            pool: &Pool,
            community_id: &str,
            since_ms: i64,
            until_ms: i64,
        ) -> StoreResult<Vec<VerdictCount>> {
            let rows: Vec<(String, Json<Vec<String>>, i64)> = sqlx::query_as(
                "SELECT v.class, v.harms, COUNT(*) FROM verdicts v JOIN rooms r ON r.room_id = v.room_id \
                 WHERE r.community_id = $1 AND v.decided_at_ms >= $2 AND v.decided_at_ms < $3 \
                 GROUP BY v.class, v.harms",
            )
            .bind(community_id)
            .bind(since_ms)
            .bind(until_ms)
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|(class, harms, n)| {
                    Ok(VerdictCount {
                        class: VerdictClass::parse(&class, "verdicts")?,
                        harms: harms.0,
                        count: count(n),
                    })
                })
                .collect()
        }
    };
}

pub(crate) use admin_queries;
