//! A community: a group of rooms sharing one filter configuration.

use serde_json::Value;

/// A community as stored. The API access token is deliberately absent: only its sha256 is stored
/// (see [`crate::Store::set_community_access_token`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Community {
    /// KSUID-like identifier (27 base62 characters), or `default` for the built-in community.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Community filter configuration (a JSON object, layered over the instance defaults).
    pub config: Value,
    /// Grants for the community API, opaque to the store (a JSON object).
    pub permissions: Value,
    /// Whether the community may add rooms to itself through the API.
    pub can_self_join_rooms: bool,
}

impl Community {
    /// A community with an empty configuration and no permissions.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            config: Value::Object(Default::default()),
            permissions: Value::Object(Default::default()),
            can_self_join_rooms: false,
        }
    }
}
