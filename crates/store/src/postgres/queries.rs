//! The portable queries, instantiated for PostgreSQL.

crate::portable::portable_queries!(sqlx::Postgres);
crate::admin::admin_queries!();
crate::outbox::outbox_queries!();
