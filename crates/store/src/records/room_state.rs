//! One entry of a room's current state.

use serde_json::Value;

/// A state event in a room's snapshot; unique per `(event_type, state_key)`.
#[derive(Debug, Clone, PartialEq)]
pub struct StateEvent {
    /// Event type (`m.room.power_levels`, ...).
    pub event_type: String,
    /// State key.
    pub state_key: String,
    /// Event ID.
    pub event_id: String,
    /// The full event JSON.
    pub event: Value,
}
