//! The `palisade` subcommands. Each module turns parsed arguments into an action and a report; `main.rs` only
//! parses and dispatches.

pub mod check;
pub mod community;
pub mod db;
pub mod keygen;
pub mod pdu_inspect;
pub mod room;
pub mod serve;
