//! `palisade room list` and `palisade room state ROOM_ID`: what the store knows about rooms, as JSON.
//!
//! Read-only. With SQLite in WAL mode (the default) it works while the server runs.

use std::{collections::BTreeMap, sync::Arc};

use palisade_store::{Room, StateEvent, Store};
use serde_json::{Value, json};

use crate::config::Config;

/// Every stored room: ID, version, community, join state and when its state was last replaced.
pub async fn list(config: &Config) -> Result<Value, String> {
    let store = open(config).await?;
    let rooms = store.list_rooms().await.map_err(|e| e.to_string())?;
    Ok(Value::Array(rooms.iter().map(room_summary).collect()))
}

/// One room's row and stored state snapshot: members (with membership and display name), topic, name, power
/// levels, join rules, server ACL, policy (stable and unstable), policy-list rules, and every stored event.
pub async fn state(config: &Config, room_id: &str) -> Result<Value, String> {
    let store = open(config).await?;
    let room = store
        .get_room(room_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("room {room_id} is not in the store"))?;
    let events = store.get_room_state(room_id).await.map_err(|e| e.to_string())?;
    Ok(snapshot(&room, &events))
}

/// The JSON report of [`state`], from the stored row and events.
pub fn snapshot(room: &Room, events: &[StateEvent]) -> Value {
    let mut report = room_summary(room);
    let content = |event_type: &str| {
        events
            .iter()
            .find(|e| e.event_type == event_type && e.state_key.is_empty())
            .map_or(Value::Null, |e| e.event["content"].clone())
    };
    let mut members = BTreeMap::new();
    let mut joined = Vec::new();
    let mut rules = Vec::new();
    for event in events {
        let event_content = &event.event["content"];
        if event.event_type == "m.room.member" {
            let membership = event_content["membership"].clone();
            if membership == "join" {
                joined.push(event.state_key.clone());
            }
            members.insert(
                event.state_key.clone(),
                json!({"membership": membership, "displayname": event_content["displayname"].clone()}),
            );
        } else if palisade_federation::room_state::is_tracked(&event.event_type, &event.state_key)
            && !event.state_key.is_empty()
        {
            rules.push(json!({
                "type": event.event_type,
                "state_key": event.state_key,
                "content": event_content,
            }));
        }
    }
    let extra = json!({
        "joined_members": joined,
        "members": members,
        "topic": content("m.room.topic")["topic"].clone(),
        "name": content("m.room.name")["name"].clone(),
        "create": content("m.room.create"),
        "power_levels": content("m.room.power_levels"),
        "join_rules": content("m.room.join_rules"),
        "server_acl": content("m.room.server_acl"),
        "policy": content("m.room.policy"),
        "unstable_policy": content(palisade_matrix::unstable::ROOM_POLICY_EVENT_TYPE),
        "policy_rules": rules,
        "events": events.iter().map(|e| e.event.clone()).collect::<Vec<_>>(),
    });
    if let (Value::Object(report), Value::Object(extra)) = (&mut report, extra) {
        report.extend(extra);
    }
    report
}

fn room_summary(room: &Room) -> Value {
    json!({
        "room_id": room.room_id,
        "room_version": room.room_version,
        "community_id": room.community_id,
        "join_state": room.join_state.as_str(),
        "last_state_update_ms": room.last_state_update_ms,
    })
}

async fn open(config: &Config) -> Result<Arc<dyn Store>, String> {
    palisade_store::open(config.database.url.expose()).await.map_err(|e| format!("database: {e}"))
}

#[cfg(test)]
mod tests {
    use palisade_store::JoinState;

    use super::*;

    fn event(event_type: &str, state_key: &str, content: Value) -> StateEvent {
        StateEvent {
            event_type: event_type.to_owned(),
            state_key: state_key.to_owned(),
            event_id: format!("${event_type}{state_key}"),
            event: json!({"type": event_type, "state_key": state_key, "content": content}),
        }
    }

    #[test]
    fn snapshot_lists_members_topic_and_rules() {
        let room = Room {
            room_id: "!r:hs.test".to_owned(),
            room_version: "12".to_owned(),
            community_id: "default".to_owned(),
            join_state: JoinState::Joined,
            moderator_user_id: None,
            overrides: None,
            last_state_update_ms: 5,
        };
        let events = [
            event("m.room.member", "@a:hs.test", json!({"membership": "join", "displayname": "A"})),
            event("m.room.member", "@b:hs.test", json!({"membership": "leave"})),
            event("m.room.topic", "", json!({"topic": "hello"})),
            event("m.room.power_levels", "", json!({"users": {"@a:hs.test": 100}})),
            event("m.policy.rule.user", "r1", json!({"entity": "@x:y", "recommendation": "m.ban"})),
        ];
        let report = snapshot(&room, &events);
        assert_eq!(report["joined_members"], json!(["@a:hs.test"]));
        assert_eq!(report["members"]["@b:hs.test"]["membership"], "leave");
        assert_eq!(report["members"]["@a:hs.test"]["displayname"], "A");
        assert_eq!(report["topic"], "hello");
        assert_eq!(report["power_levels"]["users"]["@a:hs.test"], 100);
        assert_eq!(report["policy_rules"][0]["state_key"], "r1");
        assert_eq!(report["join_state"], "joined");
        assert_eq!(report["events"].as_array().map(Vec::len), Some(5));
        assert!(report["policy"].is_null());
    }
}
