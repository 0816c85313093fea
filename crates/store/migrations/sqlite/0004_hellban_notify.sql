-- Nothing to change: SQLite's hellban mirror hears this process's writes directly and reloads after another
-- process wrote (see `sqlite/other_writers.rs`). This file keeps the two backends' schema versions in step with
-- PostgreSQL's 0004, which adds a NOTIFY trigger on hellbans.
SELECT 1;
