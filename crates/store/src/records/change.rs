//! Notifications that cached configuration must be reloaded.

use serde::{Deserialize, Serialize};

/// Something whose configuration changed; subscribers drop their cached copy and reload it.
///
/// Delivered by [`crate::Store::subscribe_changes`]. PostgreSQL fans these out to every instance
/// (LISTEN/NOTIFY from table triggers, so even edits made with `psql` are seen); SQLite
/// broadcasts them inside the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ConfigChange {
    /// A community row was created, updated or deleted.
    Community(String),
    /// A room's community, overrides, moderator or join state changed.
    Room(String),
    /// A room's current state changed (events arrived over federation or a resync replaced it).
    RoomState(String),
    /// A keyword template was created, updated or deleted.
    KeywordTemplate(String),
    /// Notifications may have been missed (listener reconnected, or the receiver lagged):
    /// reload everything.
    Resync,
}
