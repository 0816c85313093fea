//! Keeping the index small and its lookups short: the tail written out as runs, runs merged, runs of pruned
//! verdicts dropped, retired runs' blocks deleted. One bounded step at a time, each in a transaction of its own on
//! the verdict connection, so a verdict batch never waits behind more than one step.

use rusqlite::{Connection, OptionalExtension};

use super::{
    Tail,
    block::{self, Entry},
    key::VerdictKey,
    runs::{self, Run, Watermark},
};
use crate::{StoreError, StoreResult};

/// Tail entries that are written out as a run of level 0 (about 100 KB in memory until then).
pub(super) const RUN_SIZE: usize = 4096;

/// Runs of one level merged into one of the next. A lookup probes at most `FANIN - 1` runs per level, and each
/// verdict's entry is rewritten once per level (a few times in all: level 3 holds about two million).
pub(super) const FANIN: usize = 8;

/// Blocks read from each merged run per step: up to 480 entries each, so a step writes a few thousand entries.
const MERGE_BLOCKS: usize = 8;

/// Blocks of a retired run deleted per step.
const GARBAGE_BLOCKS: usize = 512;

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The tail became a run: every verdict up to this seq is in a run now.
    Flushed(i64),
    /// A merge moved on (or finished).
    Merged,
    /// Runs holding only pruned verdicts were retired.
    Expired,
    /// Blocks of a retired run were deleted.
    Collected,
    /// Nothing was due.
    Nothing,
}

/// The step due first, done in `connection`'s open transaction; `tail` is this process's, caught up.
pub(super) fn step(connection: &Connection, tail: &Tail) -> StoreResult<Step> {
    if tail.len() >= RUN_SIZE {
        return flush(connection, tail);
    }
    if let Some(merge) = Merge::under_way(connection)? {
        merge.step(connection)?;
        return Ok(Step::Merged);
    }
    let live = runs::live(connection)?;
    if let Some(merge) = Merge::start(connection, &live)? {
        merge.step(connection)?;
        return Ok(Step::Merged);
    }
    if expire(connection, &live)? {
        return Ok(Step::Expired);
    }
    if runs::delete_garbage(connection, GARBAGE_BLOCKS)? {
        return Ok(Step::Collected);
    }
    Ok(Step::Nothing)
}

/// Writes the whole tail (every verdict above the watermark, up to `known_upto`) as a run of level 0.
fn flush(connection: &Connection, tail: &Tail) -> StoreResult<Step> {
    let entries: Vec<Entry> = tail.entries().copied().collect();
    let watermark = runs::watermark(connection)?;
    write_run(connection, watermark, tail.known_upto, 0, &entries)?;
    Ok(Step::Flushed(tail.known_upto))
}

/// Writes sorted `entries`, the verdicts above `watermark` up to `upto`, as a new run of `level`, and moves the
/// watermark to `upto`.
pub(super) fn write_run(
    connection: &Connection,
    watermark: Watermark,
    upto: i64,
    level: i64,
    entries: &[Entry],
) -> StoreResult<()> {
    let run = Run {
        id: watermark.next_run,
        level,
        first_seq: watermark.indexed_upto + 1,
        last_seq: upto,
        entries: count(entries.len()),
    };
    if !entries.is_empty() {
        runs::write_blocks(connection, run.id, entries)?;
        runs::add_live(connection, &run)?;
    }
    runs::set_watermark(connection, Watermark { indexed_upto: upto, next_run: run.id + 1 })
}

/// The level of a run written at once from `entries` verdicts: the level merges would have brought it to.
pub(super) fn level_for(entries: usize) -> i64 {
    let (mut level, mut size) = (0, RUN_SIZE);
    while size < entries {
        level += 1;
        size = size.saturating_mul(FANIN);
    }
    level
}

/// Retires the runs that hold only pruned verdicts (all of them when none is stored); whether there were any.
fn expire(connection: &Connection, live: &[Run]) -> StoreResult<bool> {
    let lowest = runs::lowest_stored(connection)?.unwrap_or(i64::MAX);
    let mut expired = false;
    for run in live.iter().filter(|run| run.last_seq < lowest) {
        runs::retire(connection, run.id)?;
        expired = true;
    }
    Ok(expired)
}

/// A merge of runs into a new one, carried over steps (`verdict_key_merge`): every entry up to `done` is written
/// to the target or was dropped. Lookups read the sources until the last step swaps them for the target.
#[derive(Debug)]
struct Merge {
    target: i64,
    level: i64,
    sources: Vec<i64>,
    done: Option<Entry>,
    written: i64,
}

impl Merge {
    fn under_way(connection: &Connection) -> StoreResult<Option<Self>> {
        let row = connection
            .prepare_cached(
                "SELECT target, level, sources, done_key, done_seq, written FROM verdict_key_merge",
            )?
            .query_row([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<i64>>(3)?,
                    row.get::<_, Option<i64>>(4)?,
                    row.get::<_, i64>(5)?,
                ))
            })
            .optional()?;
        let Some((target, level, sources, done_key, done_seq, written)) = row else { return Ok(None) };
        let sources = sources
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<i64>, _>>()
            .map_err(|e| StoreError::Corrupt { table: "verdict_key_merge", reason: e.to_string() })?;
        let done = done_key.zip(done_seq).map(|(key, seq)| Entry { key: VerdictKey(key), seq });
        Ok(Some(Self { target, level, sources, done, written }))
    }

    /// Starts merging the oldest [`FANIN`] runs of the lowest level that has as many, if one has.
    fn start(connection: &Connection, live: &[Run]) -> StoreResult<Option<Self>> {
        let Some(level) = (0..=live.iter().map(|r| r.level).max().unwrap_or(-1))
            .find(|level| live.iter().filter(|r| r.level == *level).count() >= FANIN)
        else {
            return Ok(None);
        };
        let sources: Vec<i64> = live.iter().filter(|r| r.level == level).take(FANIN).map(|r| r.id).collect();
        let watermark = runs::watermark(connection)?;
        runs::set_watermark(connection, Watermark { next_run: watermark.next_run + 1, ..watermark })?;
        let merge = Self { target: watermark.next_run, level: level + 1, sources, done: None, written: 0 };
        let sources = merge.sources.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        connection
            .prepare_cached(
                "INSERT INTO verdict_key_merge (target, level, sources, done_key, done_seq, written) \
                 VALUES (?1, ?2, ?3, NULL, NULL, 0)",
            )?
            .execute((merge.target, merge.level, sources))?;
        Ok(Some(merge))
    }

    /// Merges the next stretch of keys: reads a few blocks past `done` from every source, writes out the entries
    /// that no unread entry can precede (dropping those of pruned verdicts), in whole blocks until the last step.
    fn step(mut self, connection: &Connection) -> StoreResult<()> {
        let lowest = runs::lowest_stored(connection)?.unwrap_or(i64::MAX);
        let mut loaded = Vec::new();
        // The smallest last entry read from a source with more to read: past it, that source may hold entries
        // not loaded yet.
        let mut bound: Option<Entry> = None;
        for &source in &self.sources {
            let (entries, ended) = runs::read_after(connection, source, self.done, MERGE_BLOCKS)?;
            if !ended && let Some(&last) = entries.last() {
                bound = Some(bound.map_or(last, |bound| bound.min(last)));
            }
            loaded.extend(entries);
        }
        loaded.sort_unstable();
        let finished = bound.is_none();
        let settled = match bound {
            Some(bound) => {
                let read = loaded.partition_point(|entry| *entry <= bound);
                // Entries under the bound's own key may still be unread in another run: they wait for the next
                // step, so that a key never spans two blocks (unless a run's whole stretch is that one key).
                let whole_keys = loaded[..read].partition_point(|entry| entry.key < bound.key);
                &loaded[..if whole_keys > 0 { whole_keys } else { read }]
            }
            None => &loaded[..],
        };
        let kept: Vec<Entry> = settled.iter().filter(|entry| entry.seq >= lowest).copied().collect();
        let blocks = block::blocks(&kept);
        // Until the end, the last (partial) block waits for the entries that will join it, unless it is all
        // there is: a step always moves on.
        let (write, done) = match blocks.len() {
            n if !finished && n >= 2 => (&blocks[..n - 1], blocks[n - 2].last().copied()),
            _ => (&blocks[..], settled.last().copied().or(self.done)),
        };
        for block in write {
            runs::write_blocks(connection, self.target, block)?;
            self.written += count(block.len());
        }
        self.done = done;
        if finished { self.finish(connection) } else { self.save(connection) }
    }

    fn save(&self, connection: &Connection) -> StoreResult<()> {
        connection
            .prepare_cached("UPDATE verdict_key_merge SET done_key = ?1, done_seq = ?2, written = ?3")?
            .execute((self.done.map(|e| e.key.0), self.done.map(|e| e.seq), self.written))?;
        Ok(())
    }

    /// Swaps the sources for the target in lookups.
    fn finish(&self, connection: &Connection) -> StoreResult<()> {
        let live = runs::live(connection)?;
        let sources: Vec<&Run> = live.iter().filter(|run| self.sources.contains(&run.id)).collect();
        let target = Run {
            id: self.target,
            level: self.level,
            first_seq: sources.iter().map(|r| r.first_seq).min().unwrap_or(0),
            last_seq: sources.iter().map(|r| r.last_seq).max().unwrap_or(0),
            entries: self.written,
        };
        if self.written > 0 {
            runs::add_live(connection, &target)?;
        }
        for source in &self.sources {
            runs::retire(connection, *source)?;
        }
        connection.prepare_cached("DELETE FROM verdict_key_merge")?.execute([])?;
        Ok(())
    }
}

fn count(entries: usize) -> i64 {
    i64::try_from(entries).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_written_at_once_takes_the_level_merges_would_give_it() {
        assert_eq!(level_for(0), 0);
        assert_eq!(level_for(RUN_SIZE), 0);
        assert_eq!(level_for(RUN_SIZE + 1), 1);
        assert_eq!(level_for(RUN_SIZE * FANIN), 1);
        assert_eq!(level_for(RUN_SIZE * FANIN * FANIN + 1), 3);
    }
}
