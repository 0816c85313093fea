//! A room the policy server protects.

use serde_json::Value;

use crate::StoreError;

/// Where we are in joining a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinState {
    /// A join was requested and is in progress (or will be retried).
    Joining,
    /// We are joined.
    Joined,
    /// A leave was requested and is in progress.
    Leaving,
    /// We left (or were removed); the row stays for its configuration and history.
    Left,
}

impl JoinState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Joining => "joining",
            Self::Joined => "joined",
            Self::Leaving => "leaving",
            Self::Left => "left",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        match value {
            "joining" => Ok(Self::Joining),
            "joined" => Ok(Self::Joined),
            "leaving" => Ok(Self::Leaving),
            "left" => Ok(Self::Left),
            other => {
                Err(StoreError::Corrupt { table: "rooms", reason: format!("unknown join state {other:?}") })
            }
        }
    }
}

/// A room row.
#[derive(Debug, Clone, PartialEq)]
pub struct Room {
    /// Room ID.
    pub room_id: String,
    /// Room version string (e.g. `"12"`).
    pub room_version: String,
    /// Owning community.
    pub community_id: String,
    /// Join progress.
    pub join_state: JoinState,
    /// User to redact as, if any.
    pub moderator_user_id: Option<String>,
    /// Per-room configuration layered over the community's (a JSON object), if any.
    pub overrides: Option<Value>,
    /// When the room's state snapshot was last replaced (ms), 0 if never.
    pub last_state_update_ms: i64,
}

impl Room {
    /// A joined room of `community_id` with no moderator, no overrides and no state snapshot yet.
    pub fn joined(
        room_id: impl Into<String>,
        room_version: impl Into<String>,
        community_id: impl Into<String>,
    ) -> Self {
        Self {
            room_id: room_id.into(),
            room_version: room_version.into(),
            community_id: community_id.into(),
            join_state: JoinState::Joined,
            moderator_user_id: None,
            overrides: None,
            last_state_update_ms: 0,
        }
    }
}
