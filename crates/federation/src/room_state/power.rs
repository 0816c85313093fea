//! Power levels as the auth rules read them: a user's power, and the power an action or event type needs.

use std::collections::BTreeSet;

use serde_json::Value;

use super::current::CurrentState;

/// A user's power. Privileged creators (room v12, MSC4289) outrank every numeric level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Power {
    /// An ordinary power level.
    Level(i64),
    /// A creator of a room whose version gives creators infinite power.
    Infinite,
}

impl std::fmt::Display for Power {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Level(level) => write!(f, "{level}"),
            Self::Infinite => f.write_str("infinite (creator)"),
        }
    }
}

/// Default power of users not listed.
const USERS_DEFAULT: i64 = 0;
/// Default power needed to send state, when a power-levels event exists.
const STATE_DEFAULT: i64 = 50;
/// Power of the creator when the room has no power-levels event yet (pre-v12).
const CREATOR_WITHOUT_POWER_LEVELS: i64 = 100;

/// Reads a level leniently: an integer, or (as rooms before v10 allow) a string holding one.
pub(crate) fn as_level(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The content of the current `m.room.power_levels`, if any.
fn power_levels(state: &CurrentState) -> Option<&Value> {
    state.content("m.room.power_levels", "")
}

/// The privileged creators: the create event's sender and `additional_creators`. Empty unless
/// `privileged_creators` (room v12).
pub(crate) fn creators(state: &CurrentState, privileged_creators: bool) -> BTreeSet<String> {
    let Some(create) = state.event("m.room.create", "").filter(|_| privileged_creators) else {
        return BTreeSet::new();
    };
    let sender = create.get("sender").and_then(Value::as_str);
    let additional = create
        .get("content")
        .and_then(|c| c.get("additional_creators"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    sender.into_iter().chain(additional).map(str::to_owned).collect()
}

/// The creator as rooms before v12 name them: `content.creator` (v1–v10) or the create event's sender (v11).
fn legacy_creator(state: &CurrentState) -> Option<&str> {
    let create = state.event("m.room.create", "")?;
    create
        .get("content")
        .and_then(|c| c.get("creator"))
        .and_then(Value::as_str)
        .or_else(|| create.get("sender").and_then(Value::as_str))
}

/// `user`'s power in the current state.
pub(crate) fn user_power(state: &CurrentState, user: &str, privileged_creators: bool) -> Power {
    if creators(state, privileged_creators).contains(user) {
        return Power::Infinite;
    }
    let Some(levels) = power_levels(state) else {
        let is_creator = legacy_creator(state) == Some(user);
        return Power::Level(if is_creator { CREATOR_WITHOUT_POWER_LEVELS } else { USERS_DEFAULT });
    };
    let listed = levels.get("users").and_then(|users| users.get(user)).and_then(as_level);
    let default = levels.get("users_default").and_then(as_level).unwrap_or(USERS_DEFAULT);
    Power::Level(listed.unwrap_or(default))
}

/// The level needed to send a state event of `event_type`: `events[type]`, else `state_default` (50, or 0 when
/// the room has no power-levels event at all).
pub(crate) fn state_event_level(state: &CurrentState, event_type: &str) -> i64 {
    let Some(levels) = power_levels(state) else { return 0 };
    levels
        .get("events")
        .and_then(|events| events.get(event_type))
        .and_then(as_level)
        .or_else(|| levels.get("state_default").and_then(as_level))
        .unwrap_or(STATE_DEFAULT)
}

/// The level needed to send a non-state event of `event_type`: `events[type]`, else `events_default` (0).
pub(crate) fn message_event_level(state: &CurrentState, event_type: &str) -> i64 {
    let Some(levels) = power_levels(state) else { return 0 };
    levels
        .get("events")
        .and_then(|events| events.get(event_type))
        .and_then(as_level)
        .or_else(|| levels.get("events_default").and_then(as_level))
        .unwrap_or(0)
}

/// An action on other users or their events that needs power of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Invite,
    Kick,
    Ban,
    /// Redacting another server's event.
    Redact,
}

impl Action {
    fn key(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::Kick => "kick",
            Self::Ban => "ban",
            Self::Redact => "redact",
        }
    }

    /// The spec's defaults: inviting needs 0, kicking, banning and redacting 50.
    fn default_level(self) -> i64 {
        match self {
            Self::Invite => 0,
            Self::Kick | Self::Ban | Self::Redact => 50,
        }
    }
}

/// The level `action` needs.
pub(crate) fn action_level(state: &CurrentState, action: Action) -> i64 {
    power_levels(state)
        .and_then(|levels| levels.get(action.key()))
        .and_then(as_level)
        .unwrap_or(action.default_level())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn state(events: &[Value]) -> CurrentState {
        let mut state = CurrentState::default();
        for (i, event) in events.iter().enumerate() {
            let event_type = event["type"].as_str().unwrap();
            let state_key = event["state_key"].as_str().unwrap();
            state.insert(event_type, state_key, &format!("$e{i}"), event.clone());
        }
        state
    }

    #[test]
    fn levels_and_defaults() {
        let create = json!({"type": "m.room.create", "state_key": "", "sender": "@c:x", "content": {}});
        let no_levels = state(std::slice::from_ref(&create));
        assert_eq!(user_power(&no_levels, "@c:x", false), Power::Level(100));
        assert_eq!(user_power(&no_levels, "@other:x", false), Power::Level(0));
        assert_eq!(state_event_level(&no_levels, "m.room.topic"), 0);

        let levels = json!({"type": "m.room.power_levels", "state_key": "", "sender": "@c:x",
            "content": {"users": {"@mod:x": "60"}, "users_default": 5, "events": {"m.room.policy": 90}}});
        let with_levels = state(&[create, levels]);
        assert_eq!(user_power(&with_levels, "@mod:x", false), Power::Level(60));
        assert_eq!(user_power(&with_levels, "@c:x", false), Power::Level(5));
        assert_eq!(state_event_level(&with_levels, "m.room.policy"), 90);
        assert_eq!(state_event_level(&with_levels, "m.room.topic"), 50);
        assert_eq!(action_level(&with_levels, Action::Invite), 0);
        assert_eq!(action_level(&with_levels, Action::Ban), 50);
        assert_eq!(action_level(&with_levels, Action::Redact), 50);
        assert_eq!(message_event_level(&no_levels, "m.room.redaction"), 0);
        assert_eq!(message_event_level(&with_levels, "m.room.redaction"), 0);
    }

    #[test]
    fn v12_creators_are_infinite() {
        let create = json!({"type": "m.room.create", "state_key": "", "sender": "@c:x",
            "content": {"room_version": "12", "additional_creators": ["@c2:y"]}});
        let state = state(&[create]);
        assert_eq!(user_power(&state, "@c:x", true), Power::Infinite);
        assert_eq!(user_power(&state, "@c2:y", true), Power::Infinite);
        assert_eq!(user_power(&state, "@c2:y", false), Power::Level(0));
        assert!(Power::Infinite > Power::Level(i64::MAX));
    }
}
