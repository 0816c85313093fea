-- Verdicts become an append-only log. A primary key on (room_id, event_id) put every insert on a random leaf of
-- its B-tree, the verdict writer's largest cost; lookups by event now go through the log-structured index below,
-- which the server keeps (`src/sqlite/verdict_index.rs`). SEQ is never given twice (AUTOINCREMENT), pruned or not.
CREATE TABLE verdicts_log (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id        TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    reference_hash TEXT,
    class          TEXT NOT NULL,
    harms          TEXT NOT NULL,
    expiry_ms      INTEGER,
    trace          TEXT NOT NULL,
    decided_at_ms  INTEGER NOT NULL
);
INSERT INTO verdicts_log (room_id, event_id, reference_hash, class, harms, expiry_ms, trace, decided_at_ms)
    SELECT room_id, event_id, reference_hash, class, harms, expiry_ms, trace, decided_at_ms FROM verdicts
    ORDER BY decided_at_ms, room_id, event_id;
DROP TABLE verdicts;
ALTER TABLE verdicts_log RENAME TO verdicts;
CREATE INDEX verdicts_decided_at ON verdicts (decided_at_ms);

-- Every verdict with a seq at or below INDEXED_UPTO is in a live run (the verdicts above are indexed in memory,
-- and written out as a run every few thousand). NEXT_RUN numbers runs.
CREATE TABLE verdict_index (
    indexed_upto INTEGER NOT NULL,
    next_run     INTEGER NOT NULL
);
INSERT INTO verdict_index (indexed_upto, next_run) VALUES (0, 1);

-- The runs lookups probe: each holds the (key, seq) entries of its verdicts, sorted by key.
CREATE TABLE verdict_key_runs (
    run       INTEGER PRIMARY KEY,
    level     INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    entries   INTEGER NOT NULL
);

-- A run's entries, about sixty to a block (little-endian key and seq, 16 bytes each), keyed by each block's first key.
CREATE TABLE verdict_key_blocks (
    run       INTEGER NOT NULL,
    first_key INTEGER NOT NULL,
    entries   BLOB NOT NULL,
    PRIMARY KEY (run, first_key)
) WITHOUT ROWID;

-- The merge under way, if any: SOURCES (comma-separated runs) into TARGET, done up to (DONE_KEY, DONE_SEQ).
CREATE TABLE verdict_key_merge (
    target   INTEGER PRIMARY KEY,
    level    INTEGER NOT NULL,
    sources  TEXT NOT NULL,
    done_key INTEGER,
    done_seq INTEGER,
    written  INTEGER NOT NULL
);

-- Runs out of use whose blocks are still to delete.
CREATE TABLE verdict_key_garbage (
    run INTEGER PRIMARY KEY
);
