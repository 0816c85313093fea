//! The portable queries, instantiated for SQLite.

crate::portable::portable_queries!(sqlx::Sqlite);
crate::admin::admin_queries!();
crate::outbox::outbox_queries!();
