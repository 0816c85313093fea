//! Verdict statements on PostgreSQL over arrays: one statement text whatever the batch size, so each is parsed
//! and planned once per connection, and a batch insert is one statement outside any explicit transaction (one
//! round trip instead of `BEGIN`, the insert and `COMMIT`).

use std::collections::{HashMap, HashSet};

use sqlx::{PgConnection, PgPool};

use crate::rows::VerdictRow;
use crate::{StoreError, StoreResult, StoredVerdict};

/// Inserts every verdict whose event has none, in key order (so two instances' batches wait on each other's rows
/// in one order and cannot deadlock), and returns the stored verdict for each, in input order. Of one event asked
/// twice, the first asked is stored. Only the verdicts that lost to an earlier one are read back.
pub(super) async fn insert_if_absent(
    pool: &PgPool,
    verdicts: &[StoredVerdict],
) -> StoreResult<Vec<StoredVerdict>> {
    let mut order: Vec<&StoredVerdict> = verdicts.iter().collect();
    order.sort_by(|a, b| (&a.room_id, &a.event_id).cmp(&(&b.room_id, &b.event_id)));
    order.dedup_by(|a, b| (&a.room_id, &a.event_id) == (&b.room_id, &b.event_id));
    let harms = order.iter().map(|v| serde_json::to_string(&v.harms)).collect::<Result<Vec<_>, _>>();
    let harms = harms.map_err(|e| StoreError::Corrupt { table: "verdicts", reason: e.to_string() })?;
    let inserted: Vec<(String, String)> = sqlx::query_as(
        "INSERT INTO verdicts (room_id, event_id, reference_hash, class, harms, expiry_ms, trace, decided_at_ms) \
         SELECT room_id, event_id, reference_hash, class, harms::jsonb, expiry_ms, trace::jsonb, decided_at_ms \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], \
                     $8::bigint[]) \
              AS v(room_id, event_id, reference_hash, class, harms, expiry_ms, trace, decided_at_ms) \
         ON CONFLICT (room_id, event_id) DO NOTHING RETURNING room_id, event_id",
    )
    .bind(order.iter().map(|v| v.room_id.as_str()).collect::<Vec<_>>())
    .bind(order.iter().map(|v| v.event_id.as_str()).collect::<Vec<_>>())
    .bind(order.iter().map(|v| v.reference_hash.as_deref()).collect::<Vec<_>>())
    .bind(order.iter().map(|v| v.class.as_str()).collect::<Vec<_>>())
    .bind(harms)
    .bind(order.iter().map(|v| v.expiry_ms).collect::<Vec<_>>())
    .bind(order.iter().map(|v| v.trace.as_json()).collect::<Vec<_>>())
    .bind(order.iter().map(|v| v.decided_at_ms).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    let inserted: HashSet<(String, String)> = inserted.into_iter().collect();
    let (ours, lost): (Vec<&StoredVerdict>, Vec<&StoredVerdict>) =
        order.into_iter().partition(|v| inserted.contains(&(v.room_id.clone(), v.event_id.clone())));
    // The insert ran on its own and is committed; a conflict means the winner was committed before it.
    let lost: Vec<(&str, &str)> = lost.iter().map(|v| (v.room_id.as_str(), v.event_id.as_str())).collect();
    let winners = if lost.is_empty() { Vec::new() } else { get(&mut *pool.acquire().await?, &lost).await? };
    // Sorting was stable, so the verdict kept of one key asked twice is the first asked.
    let mut stored: HashMap<(&str, &str), StoredVerdict> =
        ours.into_iter().map(|v| ((v.room_id.as_str(), v.event_id.as_str()), v.clone())).collect();
    stored.extend(lost.into_iter().zip(winners).filter_map(|(key, winner)| Some((key, winner?))));
    verdicts
        .iter()
        .map(|v| {
            stored.get(&(v.room_id.as_str(), v.event_id.as_str())).cloned().ok_or_else(|| {
                StoreError::Corrupt {
                    table: "verdicts",
                    reason: "a verdict was neither inserted nor found".to_owned(),
                }
            })
        })
        .collect()
}

/// The verdicts stored for `keys` (`(room_id, event_id)`), in the same order, `None` where absent, in one
/// statement on `connection` (a pool's, or a transaction's).
pub(super) async fn get(
    connection: &mut PgConnection,
    keys: &[(&str, &str)],
) -> StoreResult<Vec<Option<StoredVerdict>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<VerdictRow> = sqlx::query_as(
        "SELECT v.room_id, v.event_id, v.reference_hash, v.class, v.harms, v.expiry_ms, v.trace, v.decided_at_ms \
         FROM unnest($1::text[], $2::text[]) AS k(room_id, event_id) \
         JOIN verdicts v ON v.room_id = k.room_id AND v.event_id = k.event_id",
    )
    .bind(keys.iter().map(|(room_id, _)| *room_id).collect::<Vec<_>>())
    .bind(keys.iter().map(|(_, event_id)| *event_id).collect::<Vec<_>>())
    .fetch_all(connection)
    .await?;
    let mut found: HashMap<(String, String), StoredVerdict> = HashMap::with_capacity(rows.len());
    for row in rows {
        let verdict = StoredVerdict::try_from(row)?;
        found.insert((verdict.room_id.clone(), verdict.event_id.clone()), verdict);
    }
    Ok(keys
        .iter()
        .map(|(room_id, event_id)| found.get(&((*room_id).to_owned(), (*event_id).to_owned())).cloned())
        .collect())
}
