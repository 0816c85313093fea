-- Nothing to change: SQLite announces room state changes in-process (see `sqlite.rs`). This file keeps the two
-- backends' schema versions in step with PostgreSQL's 0003, which adds a NOTIFY trigger on room_state.
SELECT 1;
