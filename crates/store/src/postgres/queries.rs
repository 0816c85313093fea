//! The portable queries, instantiated for PostgreSQL.

crate::portable::portable_queries!(sqlx::Postgres);
