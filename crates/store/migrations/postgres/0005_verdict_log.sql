-- Nothing to change: PostgreSQL's primary key on verdicts stays (its inserts are one statement per batch and its
-- B-tree pages are written by its own background writer). This file keeps the two backends' schema versions in
-- step with SQLite's 0005, which turns verdicts into an append-only log with an index of its own.
SELECT 1;
