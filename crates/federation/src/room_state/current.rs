//! The room's current state in memory while a batch of PDUs is judged, so each accepted event is seen by the next.

use std::collections::BTreeMap;

use palisade_store::StateEvent;
use serde_json::Value;

/// Current state by `(type, state_key)`, as full event JSON.
#[derive(Clone, Debug, Default)]
pub(crate) struct CurrentState {
    entries: BTreeMap<(String, String), CurrentEntry>,
}

/// One state entry: the event and its ID.
#[derive(Clone, Debug)]
struct CurrentEntry {
    event_id: String,
    event: Value,
}

impl CurrentState {
    /// The state as the store holds it.
    pub(crate) fn from_stored(events: Vec<StateEvent>) -> Self {
        let entries = events
            .into_iter()
            .map(|e| ((e.event_type, e.state_key), CurrentEntry { event_id: e.event_id, event: e.event }))
            .collect();
        Self { entries }
    }

    /// Replaces one entry.
    pub(crate) fn insert(&mut self, event_type: &str, state_key: &str, event_id: &str, event: Value) {
        let key = (event_type.to_owned(), state_key.to_owned());
        self.entries.insert(key, CurrentEntry { event_id: event_id.to_owned(), event });
    }

    /// The event stored for `(event_type, state_key)`.
    pub(crate) fn event(&self, event_type: &str, state_key: &str) -> Option<&Value> {
        self.entry(event_type, state_key).map(|entry| &entry.event)
    }

    /// The ID of the event stored for `(event_type, state_key)`.
    pub(crate) fn event_id(&self, event_type: &str, state_key: &str) -> Option<&str> {
        self.entry(event_type, state_key).map(|entry| entry.event_id.as_str())
    }

    /// The content of the event stored for `(event_type, state_key)`.
    pub(crate) fn content(&self, event_type: &str, state_key: &str) -> Option<&Value> {
        self.event(event_type, state_key).and_then(|event| event.get("content"))
    }

    /// The `depth` of the stored event, the tracker's stand-in for its position in the DAG.
    pub(crate) fn depth(&self, event_type: &str, state_key: &str) -> Option<i64> {
        self.event(event_type, state_key).and_then(|event| event.get("depth")).and_then(Value::as_i64)
    }

    /// The `(type, state_key)` and event of the entry whose event is `event_id`, if it is current state.
    pub(crate) fn find(&self, event_id: &str) -> Option<(&str, &str, &Value)> {
        self.entries
            .iter()
            .find(|(_, entry)| entry.event_id == event_id)
            .map(|((event_type, state_key), entry)| (event_type.as_str(), state_key.as_str(), &entry.event))
    }

    /// `user`'s membership (`join`, `leave`, `ban`, …), if the room has a member event for them.
    pub(crate) fn membership(&self, user: &str) -> Option<&str> {
        self.content("m.room.member", user).and_then(|c| c.get("membership")).and_then(Value::as_str)
    }

    /// Whether `user` is joined.
    pub(crate) fn is_joined(&self, user: &str) -> bool {
        self.membership(user) == Some("join")
    }

    /// Whether any member event exists (the creator's first join comes before any).
    pub(crate) fn has_members(&self) -> bool {
        self.entries.keys().any(|(event_type, _)| event_type == "m.room.member")
    }

    /// The room's join rule; `invite` when there is no join-rules event, as the spec says.
    pub(crate) fn join_rule(&self) -> &str {
        self.content("m.room.join_rules", "")
            .and_then(|c| c.get("join_rule"))
            .and_then(Value::as_str)
            .unwrap_or("invite")
    }

    fn entry(&self, event_type: &str, state_key: &str) -> Option<&CurrentEntry> {
        self.entries.get(&(event_type.to_owned(), state_key.to_owned()))
    }
}
