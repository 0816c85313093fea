//! The portable queries, instantiated for SQLite.

crate::portable::portable_queries!(sqlx::Sqlite);
