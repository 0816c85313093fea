//! The `palisade` binary's library: configuration, CLI commands, HTTP routing and wiring. Business logic lives in
//! the crates below (`palisade-matrix`, `palisade-policy`, `palisade-store`, `palisade-federation`).

pub mod commands;
pub mod config;
pub mod connection_limit;
pub mod connection_threads;
mod event_signatures;
pub mod federation_setup;
pub mod http;
pub mod key_files;
pub mod metrics;
pub mod notify;
mod oldest_first;
pub mod outside;
pub mod retention;
pub mod rooms;
pub mod sign;
mod signature_batch;
pub mod tls;
