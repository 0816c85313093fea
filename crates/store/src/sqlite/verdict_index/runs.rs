//! The index's tables: runs (`verdict_key_runs`), their blocks (`verdict_key_blocks`), the merge under way
//! (`verdict_key_merge`), runs whose blocks are left to delete (`verdict_key_garbage`) and the index's watermark
//! (`verdict_index`).

use rusqlite::{Connection, OptionalExtension};

use super::{
    block::{self, Entry},
    key::VerdictKey,
};
use crate::{StoreError, StoreResult};

/// A complete run: every verdict with a seq in `first_seq..=last_seq` that existed when the run was written
/// (less those pruned before a merge), sorted by key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) id: i64,
    /// 0 for a run written from the tail; a merge of runs of level `n` makes one of level `n + 1`.
    pub(super) level: i64,
    pub(super) first_seq: i64,
    pub(super) last_seq: i64,
    pub(super) entries: i64,
}

/// The runs lookups read, oldest first.
pub(super) fn live(connection: &Connection) -> StoreResult<Vec<Run>> {
    let mut statement = connection.prepare_cached(
        "SELECT run, level, first_seq, last_seq, entries FROM verdict_key_runs ORDER BY run",
    )?;
    let runs = statement.query_map([], |row| {
        Ok(Run {
            id: row.get(0)?,
            level: row.get(1)?,
            first_seq: row.get(2)?,
            last_seq: row.get(3)?,
            entries: row.get(4)?,
        })
    })?;
    Ok(runs.collect::<Result<_, _>>()?)
}

/// Makes `run` live.
pub(super) fn add_live(connection: &Connection, run: &Run) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO verdict_key_runs (run, level, first_seq, last_seq, entries) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute((run.id, run.level, run.first_seq, run.last_seq, run.entries))?;
    Ok(())
}

/// Takes `run` out of lookups and leaves its blocks to [`delete_garbage`].
pub(super) fn retire(connection: &Connection, run: i64) -> StoreResult<()> {
    connection.prepare_cached("DELETE FROM verdict_key_runs WHERE run = ?1")?.execute([run])?;
    connection
        .prepare_cached("INSERT OR IGNORE INTO verdict_key_garbage (run) VALUES (?1)")?
        .execute([run])?;
    Ok(())
}

/// The seqs `run` holds under `key`: in the last block starting at or below it (a key never spans two blocks).
pub(super) fn probe(connection: &Connection, run: i64, key: VerdictKey) -> StoreResult<Vec<i64>> {
    let mut statement = connection.prepare_cached(
        "SELECT entries FROM verdict_key_blocks WHERE run = ?1 AND first_key <= ?2 \
         ORDER BY first_key DESC LIMIT 1",
    )?;
    let mut rows = statement.query((run, key.0))?;
    match rows.next()? {
        Some(row) => block::seqs_of(blob(row)?, key),
        None => Ok(Vec::new()),
    }
}

/// Writes sorted `entries` as blocks of `run` (after any it has: every key above its last one).
pub(super) fn write_blocks(connection: &Connection, run: i64, entries: &[Entry]) -> StoreResult<()> {
    let mut insert = connection
        .prepare_cached("INSERT INTO verdict_key_blocks (run, first_key, entries) VALUES (?1, ?2, ?3)")?;
    for block in block::blocks(entries) {
        insert.execute((run, block[0].key.0, block::encode(block)))?;
    }
    Ok(())
}

/// The entries of `run` after `after` (from its start when `None`), from at most `max_blocks` blocks, and whether
/// that reached the run's end.
pub(super) fn read_after(
    connection: &Connection,
    run: i64,
    after: Option<Entry>,
    max_blocks: usize,
) -> StoreResult<(Vec<Entry>, bool)> {
    // The block holding `after` is the last one starting at or below its key.
    let from = match after {
        Some(after) => connection
            .prepare_cached(
                "SELECT first_key FROM verdict_key_blocks WHERE run = ?1 AND first_key <= ?2 \
                 ORDER BY first_key DESC LIMIT 1",
            )?
            .query_row((run, after.key.0), |row| row.get::<_, i64>(0))
            .optional()?
            .unwrap_or(i64::MIN),
        None => i64::MIN,
    };
    let mut statement = connection.prepare_cached(
        "SELECT entries FROM verdict_key_blocks WHERE run = ?1 AND first_key >= ?2 ORDER BY first_key LIMIT ?3",
    )?;
    let limit = i64::try_from(max_blocks).unwrap_or(i64::MAX);
    let mut rows = statement.query((run, from, limit))?;
    let (mut entries, mut blocks) = (Vec::new(), 0);
    while let Some(row) = rows.next()? {
        blocks += 1;
        entries.extend(block::decode(blob(row)?)?);
    }
    if let Some(after) = after {
        entries.retain(|entry| *entry > after);
    }
    Ok((entries, blocks < max_blocks))
}

/// Calls `each` with every entry of `run`, in order.
pub(super) fn each_entry(connection: &Connection, run: i64, mut each: impl FnMut(Entry)) -> StoreResult<()> {
    let mut statement = connection
        .prepare_cached("SELECT entries FROM verdict_key_blocks WHERE run = ?1 ORDER BY first_key")?;
    let mut rows = statement.query([run])?;
    while let Some(row) = rows.next()? {
        block::decode(blob(row)?)?.into_iter().for_each(&mut each);
    }
    Ok(())
}

/// Deletes up to `max_blocks` blocks of a retired run, and forgets the run once it has none; whether there was
/// any to delete.
pub(super) fn delete_garbage(connection: &Connection, max_blocks: usize) -> StoreResult<bool> {
    let run: Option<i64> = connection
        .prepare_cached("SELECT run FROM verdict_key_garbage ORDER BY run LIMIT 1")?
        .query_row([], |row| row.get(0))
        .optional()?;
    let Some(run) = run else { return Ok(false) };
    let limit = i64::try_from(max_blocks).unwrap_or(i64::MAX);
    let deleted = connection
        .prepare_cached(
            "DELETE FROM verdict_key_blocks WHERE run = ?1 AND first_key IN \
             (SELECT first_key FROM verdict_key_blocks WHERE run = ?1 ORDER BY first_key LIMIT ?2)",
        )?
        .execute((run, limit))?;
    if deleted < max_blocks {
        connection.prepare_cached("DELETE FROM verdict_key_garbage WHERE run = ?1")?.execute([run])?;
    }
    Ok(true)
}

/// The index's watermark and run counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Watermark {
    /// Every verdict with a seq at or below this is in a live run (or was pruned).
    pub(super) indexed_upto: i64,
    /// The ID the next run gets.
    pub(super) next_run: i64,
}

pub(super) fn watermark(connection: &Connection) -> StoreResult<Watermark> {
    Ok(connection
        .prepare_cached("SELECT indexed_upto, next_run FROM verdict_index")?
        .query_row([], |row| Ok(Watermark { indexed_upto: row.get(0)?, next_run: row.get(1)? }))?)
}

pub(super) fn set_watermark(connection: &Connection, watermark: Watermark) -> StoreResult<()> {
    connection
        .prepare_cached("UPDATE verdict_index SET indexed_upto = ?1, next_run = ?2")?
        .execute((watermark.indexed_upto, watermark.next_run))?;
    Ok(())
}

/// The highest seq ever given to a verdict (`AUTOINCREMENT` never gives one twice, pruned or not); 0 for none.
pub(super) fn assigned_upto(connection: &Connection) -> StoreResult<i64> {
    Ok(connection
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'verdicts'")?
        .query_row([], |row| row.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The lowest seq of a stored verdict (`None`: no verdicts): run entries below it point at pruned rows.
pub(super) fn lowest_stored(connection: &Connection) -> StoreResult<Option<i64>> {
    Ok(connection.prepare_cached("SELECT min(seq) FROM verdicts")?.query_row([], |row| row.get(0))?)
}

/// `(seq, key)` of every verdict with a seq in `after + 1..=upto`, in seq order.
pub(super) fn stored_keys(connection: &Connection, after: i64, upto: i64) -> StoreResult<Vec<Entry>> {
    let mut statement = connection.prepare_cached(
        "SELECT seq, room_id, event_id FROM verdicts WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
    )?;
    let mut rows = statement.query((after, upto))?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next()? {
        let (room_id, event_id) = (text(row, 1)?, text(row, 2)?);
        entries.push(Entry { key: VerdictKey::of(room_id, event_id), seq: row.get(0)? });
    }
    Ok(entries)
}

/// A block's bytes (column 0).
fn blob<'r>(row: &'r rusqlite::Row<'_>) -> StoreResult<&'r [u8]> {
    row.get_ref(0)?.as_blob().map_err(|e| corrupt("verdict_key_blocks", &e))
}

fn text<'r>(row: &'r rusqlite::Row<'_>, column: usize) -> StoreResult<&'r str> {
    row.get_ref(column)?.as_str().map_err(|e| corrupt("verdicts", &e))
}

fn corrupt(table: &'static str, error: &impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { table, reason: error.to_string() }
}
