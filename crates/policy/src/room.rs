//! What the engine knows about the room an event is in, as plain data (filled by the room-state tracker, or from a
//! state dump for offline checks).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy_list::{PolicyRuleSet, PolicyRuleSource};
use crate::power_levels::PowerLevels;

/// A joined member.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's display name in this room, if any.
    pub display_name: Option<String>,
}

/// The room an event is judged in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoomSnapshot {
    /// The room ID.
    pub room_id: String,
    /// The room version (`m.room.create` `room_version`, default `"1"`).
    pub room_version: String,
    /// Joined members by user ID.
    pub members: BTreeMap<String, Member>,
    /// Current power levels, if known.
    pub power_levels: Option<PowerLevels>,
    /// Room creators, only for room versions that give creators infinite power (v12+).
    pub creators: BTreeSet<String>,
    /// Policy-list rules that apply to this room (already merged in priority order).
    pub policy_rules: PolicyRuleSet,
}

/// The event given is not an `m.room.create` with an empty state key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a create event")]
pub struct NotCreateEvent;

/// Whether a room version gives creators privileged, infinite power (MSC4289): v12 and its unstable predecessor.
pub fn creators_are_privileged(room_version: &str) -> bool {
    matches!(room_version, "12" | "org.matrix.hydra.11")
}

/// Reads the privileged creators from a create event: the sender plus `additional_creators`, or nobody in room
/// versions before 12.
pub fn creators_from_create_event(event: &Value) -> Result<BTreeSet<String>, NotCreateEvent> {
    let is_create = event.get("type").and_then(Value::as_str) == Some("m.room.create")
        && event.get("state_key").and_then(Value::as_str) == Some("");
    if !is_create {
        return Err(NotCreateEvent);
    }
    let content = event.get("content");
    let version = content.and_then(|c| c.get("room_version")).and_then(Value::as_str).unwrap_or("1");
    if !creators_are_privileged(version) {
        return Ok(BTreeSet::new());
    }
    let sender = event.get("sender").and_then(Value::as_str);
    let additional = content
        .and_then(|c| c.get("additional_creators"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    Ok(sender.into_iter().chain(additional).map(str::to_owned).collect())
}

impl RoomSnapshot {
    /// An empty snapshot of `room_id` in room version `room_version`.
    pub fn new(room_id: impl Into<String>, room_version: impl Into<String>) -> Self {
        Self { room_id: room_id.into(), room_version: room_version.into(), ..Self::default() }
    }

    /// Builds a snapshot from current state events (create, power levels, members, and policy rules if the room is
    /// itself a list). Events that are not objects or lack a type/state key are ignored: a state dump may hold
    /// anything, and ignoring noise is safer than refusing to check.
    pub fn from_state_events(room_id: &str, events: &[Value]) -> Self {
        let mut room = Self::new(room_id, "1");
        let mut rules = Vec::new();
        for event in events {
            let Some(event_type) = event.get("type").and_then(Value::as_str) else { continue };
            let Some(state_key) = event.get("state_key").and_then(Value::as_str) else { continue };
            let content = event.get("content").cloned().unwrap_or(Value::Null);
            match event_type {
                "m.room.create" if state_key.is_empty() => {
                    room.room_version =
                        content.get("room_version").and_then(Value::as_str).unwrap_or("1").to_owned();
                    room.creators = creators_from_create_event(event).unwrap_or_default();
                }
                "m.room.power_levels" => room.power_levels = PowerLevels::from_event(event).ok(),
                "m.room.member" => {
                    if content.get("membership").and_then(Value::as_str) == Some("join") {
                        let display_name =
                            content.get("displayname").and_then(Value::as_str).map(str::to_owned);
                        room.members.insert(state_key.to_owned(), Member { display_name });
                    } else {
                        room.members.remove(state_key);
                    }
                }
                _ => rules.push(PolicyRuleSource {
                    event_type: event_type.to_owned(),
                    state_key: state_key.to_owned(),
                    content,
                }),
            }
        }
        room.policy_rules = PolicyRuleSet::from_lists(&[rules]);
        room
    }

    /// Display names of joined members that have a non-blank one.
    pub fn display_names(&self) -> impl Iterator<Item = (&str, &str)> {
        self.members.iter().filter_map(|(id, m)| {
            m.display_name.as_deref().filter(|n| !n.trim().is_empty()).map(|n| (id.as_str(), n))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// §8.5 #45.
    #[test]
    fn creators_import() {
        let v12 = json!({"type": "m.room.create", "state_key": "", "sender": "@user:example.org",
            "content": {"room_version": "12", "additional_creators": ["@other:example.org"]}});
        let creators = creators_from_create_event(&v12).unwrap();
        assert_eq!(creators.into_iter().collect::<Vec<_>>(), vec!["@other:example.org", "@user:example.org"]);
        let v11 = json!({"type": "m.room.create", "state_key": "", "sender": "@u:e", "content": {"room_version": "11"}});
        assert!(creators_from_create_event(&v11).unwrap().is_empty());
        for bad in [
            json!({"type": "m.room.create", "sender": "@u:e", "content": {}}),
            json!({"type": "m.room.create", "state_key": "x", "sender": "@u:e", "content": {}}),
            json!({"type": "m.room.member", "state_key": "", "sender": "@u:e", "content": {}}),
        ] {
            assert_eq!(creators_from_create_event(&bad), Err(NotCreateEvent));
        }
    }

    #[test]
    fn snapshot_from_state() {
        let room = RoomSnapshot::from_state_events(
            "!r:example.org",
            &[
                json!({"type": "m.room.create", "state_key": "", "sender": "@c:example.org", "content": {"room_version": "12"}}),
                json!({"type": "m.room.member", "state_key": "@a:example.org", "content": {"membership": "join", "displayname": "alice"}}),
                json!({"type": "m.room.member", "state_key": "@b:example.org", "content": {"membership": "join", "displayname": "  "}}),
                json!({"type": "m.room.member", "state_key": "@gone:example.org", "content": {"membership": "leave"}}),
                json!({"type": "m.room.power_levels", "state_key": "", "content": {"users": {"@a:example.org": 100}}}),
                json!({"type": "m.policy.rule.user", "state_key": "r1", "content": {"entity": "@bad:*", "recommendation": "m.ban"}}),
                json!("noise"),
            ],
        );
        assert_eq!(room.room_version, "12");
        assert!(room.creators.contains("@c:example.org"));
        assert_eq!(room.members.len(), 2);
        assert_eq!(room.display_names().collect::<Vec<_>>(), vec![("@a:example.org", "alice")]);
        assert_eq!(room.power_levels.as_ref().unwrap().user_level("@a:example.org"), 100);
        assert_eq!(room.policy_rules.len(), 1);
    }
}
