#![allow(clippy::unwrap_used)]

use std::path::Path;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{
    block::Entry,
    key::VerdictKey,
    runs::{self, Run},
    upkeep::{FANIN, RUN_SIZE},
    *,
};

const MIGRATIONS: [&str; 5] = [
    include_str!("../../../migrations/sqlite/0001_initial.sql"),
    include_str!("../../../migrations/sqlite/0002_outbox.sql"),
    include_str!("../../../migrations/sqlite/0003_room_state_notify.sql"),
    include_str!("../../../migrations/sqlite/0004_hellban_notify.sql"),
    include_str!("../../../migrations/sqlite/0005_verdict_log.sql"),
];

/// A database file with the store's schema, in WAL mode.
pub(crate) fn migrated(path: &Path) -> Connection {
    let connection = Connection::open(path).unwrap();
    connection.execute_batch("PRAGMA journal_mode=WAL").unwrap();
    for migration in MIGRATIONS {
        connection.execute_batch(migration).unwrap();
    }
    connection
}

/// Appends a verdict row (as the verdict writer does, without the index); returns its seq.
pub(crate) fn store_row(connection: &Connection, room_id: &str, event_id: &str) -> i64 {
    connection
        .execute(
            "INSERT INTO verdicts (room_id, event_id, class, harms, trace, decided_at_ms) \
             VALUES (?1, ?2, 'neutral', '[]', '[]', 1)",
            (room_id, event_id),
        )
        .unwrap();
    connection.last_insert_rowid()
}

/// Stores verdicts the way the verdict writer does: caught up, each recorded before the commit.
fn insert(index: &VerdictIndex, connection: &mut Connection, events: impl IntoIterator<Item = String>) {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
    index.catch_up(&transaction).unwrap();
    for event_id in events {
        let seq = store_row(&transaction, "!r:x", &event_id);
        index.record(&[Entry { key: VerdictKey::of("!r:x", &event_id), seq }]);
    }
    transaction.commit().unwrap();
}

fn upkeep_until_done(index: &VerdictIndex, connection: &mut Connection) -> usize {
    let mut steps = 0;
    while index.upkeep(connection).unwrap().1 {
        steps += 1;
    }
    steps
}

fn found(index: &VerdictIndex, connection: &Connection, event_id: &str) -> bool {
    match index.find(connection, &[("!r:x", event_id)]).unwrap().pop().unwrap() {
        Some(verdict) => verdict.event_id == event_id && verdict.room_id == "!r:x",
        None => false,
    }
}

fn read_only(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn scalar(connection: &Connection, sql: &str) -> i64 {
    connection.query_row(sql, [], |row| row.get(0)).unwrap()
}

#[test]
fn verdicts_are_found_in_the_tail_in_runs_and_after_merges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    let mut writer = migrated(&path);
    let index = VerdictIndex::open(&mut writer).unwrap();
    // Inserted 500 at a time, the tail is written out every 4 500: FANIN runs of level 0, and a tail.
    let total = (RUN_SIZE + 500) * FANIN + 100;
    for chunk in 0..total.div_ceil(500) {
        insert(&index, &mut writer, (chunk * 500..(chunk * 500 + 500).min(total)).map(|i| format!("$e{i}")));
        upkeep_until_done(&index, &mut writer);
    }
    let live = runs::live(&writer).unwrap();
    assert!(live.iter().any(|run| run.level == 1), "{FANIN} runs of level 0 were merged: {live:?}");
    assert!(live.iter().filter(|run| run.level == 0).count() < FANIN);
    let in_runs: i64 = live.iter().map(|run| run.entries).sum();
    assert_eq!(in_runs + i64::try_from(index.read().len()).unwrap(), i64::try_from(total).unwrap());
    assert_eq!(
        scalar(&writer, "SELECT count(DISTINCT run) FROM verdict_key_blocks"),
        i64::try_from(live.len()).unwrap(),
        "the merged runs' blocks are deleted"
    );
    assert_eq!(scalar(&writer, "SELECT count(*) FROM verdict_key_garbage"), 0);
    let reader = read_only(&path);
    for i in (0..total).step_by(7).chain([0, total - 1]) {
        assert!(found(&index, &writer, &format!("$e{i}")), "$e{i} through the writer");
        assert!(found(&index, &reader, &format!("$e{i}")), "$e{i} through a reader");
    }
    assert!(!found(&index, &reader, "$never"));
    assert!(index.find(&reader, &[("!other:x", "$e1")]).unwrap()[0].is_none(), "keyed by room too");
}

#[test]
fn a_merge_keeps_every_entry_in_order_and_drops_those_of_pruned_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    let mut writer = migrated(&path);
    // Seqs below 2 are pruned: the lowest stored verdict is 2.
    store_row(&writer, "!r:x", "$pruned");
    store_row(&writer, "!r:x", "$kept");
    writer.execute("DELETE FROM verdicts WHERE seq = 1", []).unwrap();
    let index = VerdictIndex::open(&mut writer).unwrap();
    // FANIN runs of 1 000 entries each with keys from a shared pool, so keys repeat within and across runs.
    let mut expected = Vec::new();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for run in 0..FANIN {
        let mut entries: Vec<Entry> = (0..1_000)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let key = VerdictKey((state % 3_000).cast_signed() - 1_500);
                Entry { key, seq: i64::try_from(run * 1_000 + i).unwrap() }
            })
            .collect();
        entries.sort_unstable();
        let id = i64::try_from(run).unwrap() + 100;
        runs::write_blocks(&writer, id, &entries).unwrap();
        let run = Run { id, level: 0, first_seq: 0, last_seq: i64::MAX, entries: 1_000 };
        runs::add_live(&writer, &run).unwrap();
        expected.extend(entries.into_iter().filter(|entry| entry.seq >= 2));
    }
    expected.sort_unstable();
    let steps = upkeep_until_done(&index, &mut writer);
    assert!(steps > 3, "a merge of {FANIN}000 entries takes several steps: {steps}");
    let live = runs::live(&writer).unwrap();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!((live[0].level, live[0].entries), (1, i64::try_from(expected.len()).unwrap()));
    let mut merged = Vec::new();
    runs::each_entry(&writer, live[0].id, |entry| merged.push(entry)).unwrap();
    assert_eq!(merged, expected);
    for key in [-1_500, -3, 0, 1_499] {
        let mut probed = runs::probe(&writer, live[0].id, VerdictKey(key)).unwrap();
        probed.sort_unstable();
        let wanted: Vec<i64> = expected.iter().filter(|e| e.key.0 == key).map(|e| e.seq).collect();
        assert_eq!(probed, wanted, "key {key}");
    }
}

#[test]
fn a_table_with_no_index_yet_is_indexed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    let mut writer = migrated(&path);
    let stored = usize::try_from(OPEN_TAIL).unwrap() + 5_000;
    let transaction = writer.transaction().unwrap();
    for i in 0..stored {
        store_row(&transaction, "!r:x", &format!("$old{i}"));
    }
    transaction.commit().unwrap();
    let index = VerdictIndex::open(&mut writer).unwrap();
    let watermark = runs::watermark(&writer).unwrap();
    assert_eq!(watermark.indexed_upto, i64::try_from(stored).unwrap(), "one chunk holds them all");
    assert_eq!(index.read().len(), 0);
    assert_eq!(runs::live(&writer).unwrap()[0].level, 1);
    let reader = read_only(&path);
    assert!((0..stored).step_by(13).all(|i| found(&index, &reader, &format!("$old{i}"))));
}

#[test]
fn another_processes_verdicts_are_found_and_caught_up_with() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    let mut first = migrated(&path);
    let mut second = Connection::open(&path).unwrap();
    let ours = VerdictIndex::open(&mut first).unwrap();
    let theirs = VerdictIndex::open(&mut second).unwrap();
    insert(&theirs, &mut second, ["$theirs".to_owned()]);
    assert!(found(&ours, &read_only(&path), "$theirs"), "above what we have seen: read from the table");
    let transaction = first.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
    let caught_up = ours.catch_up(&transaction).unwrap();
    transaction.commit().unwrap();
    assert_eq!(caught_up.learned, [VerdictKey::of("!r:x", "$theirs")]);
    assert!(!caught_up.runs_from_elsewhere);
    assert_eq!(ours.read().seqs_of(VerdictKey::of("!r:x", "$theirs")), [1]);
    // They write a run: we drop what it holds from our tail and learn that runs came from elsewhere.
    insert(&theirs, &mut second, (0..RUN_SIZE).map(|i| format!("$more{i}")));
    assert!(upkeep_until_done(&theirs, &mut second) >= 1);
    let transaction = first.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
    let caught_up = ours.catch_up(&transaction).unwrap();
    transaction.commit().unwrap();
    assert!(caught_up.runs_from_elsewhere);
    assert_eq!(ours.read().len(), 0);
    assert_eq!(ours.known_upto(), i64::try_from(RUN_SIZE).unwrap() + 1);
    assert!(found(&ours, &first, "$theirs") && found(&ours, &first, "$more7"));
}

#[test]
fn an_insert_that_rolled_back_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    let mut writer = migrated(&path);
    let index = VerdictIndex::open(&mut writer).unwrap();
    insert(&index, &mut writer, ["$kept".to_owned()]);
    let before = index.known_upto();
    let transaction = writer.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
    let seq = store_row(&transaction, "!r:x", "$lost");
    let entry = Entry { key: VerdictKey::of("!r:x", "$lost"), seq };
    index.record(&[entry]);
    assert!(found(&index, &transaction, "$lost"), "the transaction sees its own insert");
    drop(transaction);
    index.forget(&[entry], before);
    assert!(!found(&index, &writer, "$lost"));
    assert!(found(&index, &writer, "$kept"));
    assert_eq!(index.known_upto(), before);
}

#[test]
fn runs_of_pruned_verdicts_are_retired_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    let mut writer = migrated(&path);
    let index = VerdictIndex::open(&mut writer).unwrap();
    insert(&index, &mut writer, (0..RUN_SIZE).map(|i| format!("$old{i}")));
    upkeep_until_done(&index, &mut writer);
    insert(&index, &mut writer, (0..RUN_SIZE).map(|i| format!("$new{i}")));
    upkeep_until_done(&index, &mut writer);
    assert_eq!(runs::live(&writer).unwrap().len(), 2);
    // Retention deletes the old verdicts (`prune`).
    writer.execute("DELETE FROM verdicts WHERE event_id LIKE '$old%'", []).unwrap();
    upkeep_until_done(&index, &mut writer);
    let live = runs::live(&writer).unwrap();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(scalar(&writer, "SELECT count(DISTINCT run) FROM verdict_key_blocks"), 1);
    assert!(!found(&index, &writer, "$old5"));
    assert!(found(&index, &writer, "$new5"));
    writer.execute("DELETE FROM verdicts", []).unwrap();
    upkeep_until_done(&index, &mut writer);
    assert!(runs::live(&writer).unwrap().is_empty(), "no verdicts left: no runs");
    assert_eq!(scalar(&writer, "SELECT count(*) FROM verdict_key_blocks"), 0);
}

/// A database of an earlier version keeps its verdicts through the upgrade: the migration moves them into the log
/// (oldest first) and the first open indexes them.
#[test]
fn an_upgraded_database_keeps_and_finds_its_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    let mut connection = Connection::open(&path).unwrap();
    for migration in &MIGRATIONS[..4] {
        connection.execute_batch(migration).unwrap();
    }
    for (event_id, decided_at_ms) in [("$late", 300), ("$early", 100), ("$middle", 200)] {
        connection
            .execute(
                "INSERT INTO verdicts (room_id, event_id, class, harms, trace, decided_at_ms) \
                 VALUES ('!r:x', ?1, 'prohibited', '[\"spam\"]', '[]', ?2)",
                (event_id, decided_at_ms),
            )
            .unwrap();
    }
    connection.execute_batch(MIGRATIONS[4]).unwrap();
    let order: Vec<String> = connection
        .prepare("SELECT event_id FROM verdicts ORDER BY seq")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(order, ["$early", "$middle", "$late"]);
    let index = VerdictIndex::open(&mut connection).unwrap();
    let late = index.find(&connection, &[("!r:x", "$late")]).unwrap().pop().unwrap().unwrap();
    assert_eq!(
        (late.class, late.harms, late.decided_at_ms),
        (VerdictClass::Prohibited, vec!["spam".to_owned()], 300)
    );
    assert!(found(&index, &read_only(&path), "$early"));
}
