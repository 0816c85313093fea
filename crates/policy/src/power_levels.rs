//! The parts of `m.room.power_levels` trust decisions need.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Power levels as plain data (spec defaults for missing fields: `users_default` 0, `state_default` 50).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerLevels {
    /// Explicit user levels.
    pub users: BTreeMap<String, i64>,
    /// Level of users not listed.
    pub users_default: i64,
    /// Level needed to send state events not listed in `events`.
    pub state_default: i64,
}

impl Default for PowerLevels {
    fn default() -> Self {
        Self { users: BTreeMap::new(), users_default: 0, state_default: 50 }
    }
}

/// The event given is not `m.room.power_levels` with an empty state key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a power levels event")]
pub struct NotPowerLevels;

impl PowerLevels {
    /// Reads a power-levels state event. Levels may be integers or (in old rooms) integer strings; other values
    /// are ignored and the default applies.
    pub fn from_event(event: &Value) -> Result<Self, NotPowerLevels> {
        let is_pl = event.get("type").and_then(Value::as_str) == Some("m.room.power_levels")
            && event.get("state_key").and_then(Value::as_str) == Some("");
        if !is_pl {
            return Err(NotPowerLevels);
        }
        let content = event.get("content").and_then(Value::as_object);
        let field = |name: &str| content.and_then(|c| c.get(name)).and_then(level);
        let defaults = Self::default();
        let users = content
            .and_then(|c| c.get("users"))
            .and_then(Value::as_object)
            .map(|users| users.iter().filter_map(|(id, l)| level(l).map(|l| (id.clone(), l))).collect())
            .unwrap_or_default();
        Ok(Self {
            users,
            users_default: field("users_default").unwrap_or(defaults.users_default),
            state_default: field("state_default").unwrap_or(defaults.state_default),
        })
    }

    /// The level of `user_id`.
    pub fn user_level(&self, user_id: &str) -> i64 {
        self.users.get(user_id).copied().unwrap_or(self.users_default)
    }
}

/// A power level: an integer, or a string holding one.
fn level(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_levels_and_rejects_other_events() {
        let pl = PowerLevels::from_event(&json!({"type": "m.room.power_levels", "state_key": "", "content": {
            "state_default": 50, "users_default": 0, "users": {"@user:example.org": 100, "@s:example.org": "60"}}}))
        .unwrap();
        assert_eq!(pl.user_level("@user:example.org"), 100);
        assert_eq!(pl.user_level("@s:example.org"), 60);
        assert_eq!(pl.user_level("@other:example.org"), 0);
        for bad in [
            json!({"type": "m.room.power_levels", "content": {}}),
            json!({"type": "m.room.power_levels", "state_key": "x", "content": {}}),
            json!({"type": "m.room.create", "state_key": "", "content": {}}),
        ] {
            assert_eq!(PowerLevels::from_event(&bad), Err(NotPowerLevels));
        }
        let empty =
            PowerLevels::from_event(&json!({"type": "m.room.power_levels", "state_key": ""})).unwrap();
        assert_eq!(empty, PowerLevels::default());
    }
}
