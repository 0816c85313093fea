//! Verdict statements through sqlx, for an in-memory database (a file database inserts and looks verdicts up
//! through connections of its own, `verdict_insert.rs` and `verdict_lookup.rs`) and for the single lookups of
//! either. A batch is one statement per chunk, its parameter list padded to a power of two so that statements
//! come in a few lengths and stay in the connection's prepared-statement cache.

use sqlx::SqlitePool;
use sqlx::types::Json;

use crate::rows::VerdictRow;
use crate::{StoreResult, StoredVerdict, VerdictLookup};

const VERDICT_SELECT: &str = "SELECT room_id, event_id, reference_hash, class, harms, expiry_ms, \
     trace, decided_at_ms FROM verdicts";

/// Most rows one verdict statement carries (8 binds per inserted row stays far below both engines'
/// parameter limits).
const VERDICT_CHUNK: usize = 256;

/// Inserts each verdict unless present and returns the stored one for each (input order), in one
/// transaction: one statement inserts a whole chunk and reports which rows it inserted; only verdicts
/// that lost to one stored earlier are read back.
pub(super) async fn insert_verdicts_if_absent(
    pool: &SqlitePool,
    verdicts: &[StoredVerdict],
) -> StoreResult<Vec<StoredVerdict>> {
    // Insert in key order so two concurrent batches wait on each other's rows in the same
    // order and cannot deadlock (PostgreSQL row locks on conflicting keys). Of one key asked
    // twice in a batch, the first asked is the one inserted.
    let mut order: Vec<&StoredVerdict> = verdicts.iter().collect();
    order.sort_by(|a, b| (&a.room_id, &a.event_id).cmp(&(&b.room_id, &b.event_id)));
    order.dedup_by(|a, b| (&a.room_id, &a.event_id) == (&b.room_id, &b.event_id));
    let mut tx = pool.begin().await?;
    let mut inserted = std::collections::HashSet::new();
    for chunk in order.chunks(VERDICT_CHUNK) {
        let chunk = padded(chunk);
        let rows = (0..chunk.len())
            .map(|i| {
                let n = i * 8;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6,
                    n + 7,
                    n + 8
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        // Only placeholders are formatted in; every value is bound.
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO verdicts (room_id, event_id, reference_hash, class, harms, expiry_ms, trace, \
             decided_at_ms) VALUES {rows} ON CONFLICT (room_id, event_id) DO NOTHING \
             RETURNING room_id, event_id"
        ));
        let mut query = sqlx::query_as::<_, (String, String)>(sql);
        for v in &chunk {
            query = query
                .bind(&v.room_id)
                .bind(&v.event_id)
                .bind(v.reference_hash.as_deref())
                .bind(v.class.as_str())
                .bind(Json(&v.harms))
                .bind(v.expiry_ms)
                .bind(Json(v.trace.raw()))
                .bind(v.decided_at_ms);
        }
        inserted.extend(query.fetch_all(&mut *tx).await?);
    }
    let (ours, earlier): (Vec<&StoredVerdict>, Vec<&StoredVerdict>) =
        order.into_iter().partition(|v| inserted.contains(&(v.room_id.clone(), v.event_id.clone())));
    let earlier: Vec<(&str, &str)> =
        earlier.iter().map(|v| (v.room_id.as_str(), v.event_id.as_str())).collect();
    let mut winners: Vec<StoredVerdict> = Vec::with_capacity(verdicts.len());
    for chunk in earlier.chunks(VERDICT_CHUNK) {
        winners.extend(select_verdicts(&mut *tx, chunk).await?);
    }
    tx.commit().await?;
    winners.extend(ours.into_iter().cloned());
    let keys: Vec<(&str, &str)> =
        verdicts.iter().map(|v| (v.room_id.as_str(), v.event_id.as_str())).collect();
    in_key_order(&keys, winners)
        .into_iter()
        .map(|stored| {
            stored.ok_or(crate::StoreError::Corrupt {
                table: "verdicts",
                reason: "a verdict was neither inserted nor found".to_owned(),
            })
        })
        .collect()
}

/// The verdicts stored for `keys` (`(room_id, event_id)`), in the same order, `None` where absent; read
/// through one connection (a pool's, or a transaction's).
pub(super) async fn get_verdicts(
    connection: &mut sqlx::SqliteConnection,
    keys: &[(&str, &str)],
) -> StoreResult<Vec<Option<StoredVerdict>>> {
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(VERDICT_CHUNK) {
        found.extend(select_verdicts(&mut *connection, chunk).await?);
    }
    Ok(in_key_order(keys, found))
}

/// One statement reading the verdicts of up to [`VERDICT_CHUNK`] keys. An `OR` of key equalities is
/// served from the primary key by both engines (SQLite's multi-index OR, PostgreSQL's bitmap OR).
async fn select_verdicts<'e, E>(executor: E, keys: &[(&str, &str)]) -> StoreResult<Vec<StoredVerdict>>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let keys = padded(keys);
    let condition = (0..keys.len())
        .map(|i| format!("(room_id = ${} AND event_id = ${})", 2 * i + 1, 2 * i + 2))
        .collect::<Vec<_>>()
        .join(" OR ");
    // Only placeholders are formatted in; every key is bound.
    let sql = sqlx::AssertSqlSafe(format!("{VERDICT_SELECT} WHERE {condition}"));
    let mut query = sqlx::query_as::<_, VerdictRow>(sql);
    for (room_id, event_id) in &keys {
        query = query.bind(*room_id).bind(*event_id);
    }
    query.fetch_all(executor).await?.into_iter().map(StoredVerdict::try_from).collect()
}

/// `items` lengthened to the next power of two by repeating its last item, so that batch statements come
/// in a few lengths and stay in the connection's prepared-statement cache (a repeated key or a repeated
/// `DO NOTHING` row changes no result).
fn padded<T: Copy>(items: &[T]) -> Vec<T> {
    let mut padded = items.to_vec();
    if let Some(&last) = items.last() {
        padded.resize(items.len().next_power_of_two(), last);
    }
    padded
}

/// `found` rearranged to follow `keys`.
fn in_key_order(keys: &[(&str, &str)], found: Vec<StoredVerdict>) -> Vec<Option<StoredVerdict>> {
    let by_key: std::collections::HashMap<(String, String), StoredVerdict> =
        found.into_iter().map(|v| ((v.room_id.clone(), v.event_id.clone()), v)).collect();
    keys.iter()
        .map(|(room_id, event_id)| by_key.get(&((*room_id).to_owned(), (*event_id).to_owned())).cloned())
        .collect()
}

/// Looks a verdict up and checks its reference hash.
pub(super) async fn get_verdict(
    pool: &SqlitePool,
    room_id: &str,
    event_id: &str,
    reference_hash: Option<&str>,
) -> StoreResult<VerdictLookup> {
    let mut found = select_verdicts(pool, &[(room_id, event_id)]).await?;
    Ok(VerdictLookup::of(found.pop(), reference_hash))
}
