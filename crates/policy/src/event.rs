//! A read-only view over a PDU held as `serde_json::Value`. Construction checks the few fields every filter relies
//! on, so filters never need to handle "not an object" or "type is a number".

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::mxc::{MxcError, MxcUri};
use crate::user_id::UserIdRef;

/// A PDU the engine can judge.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    json: Value,
    event_type: String,
    sender: String,
    state_key: Option<String>,
    room_id: Option<String>,
    event_id: Option<String>,
    origin_server_ts: Option<i64>,
    /// [`Self::full_json`] and [`Self::content_json`], written once for the filters that search them.
    full_json: OnceLock<String>,
    content_json: OnceLock<String>,
    full_json_len: Option<usize>,
}

/// A PDU that is too malformed to judge.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The PDU is not a JSON object.
    #[error("event is not a JSON object")]
    NotAnObject,
    /// A required field is missing or has the wrong JSON type.
    #[error("event field `{0}` is missing or has the wrong type")]
    BadField(&'static str),
}

/// The empty object returned for events without content.
static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl Event {
    /// Wraps a PDU. `type` and `sender` must be strings; `content` (if present) an object; `state_key`, `room_id`,
    /// `event_id` strings and `origin_server_ts` an integer when present.
    pub fn from_json(json: Value) -> Result<Self, EventError> {
        let object = json.as_object().ok_or(EventError::NotAnObject)?;
        let required = |name: &'static str| object.get(name).and_then(Value::as_str).map(str::to_owned);
        let optional = |name: &'static str| match object.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(EventError::BadField(name)),
        };
        let event_type = required("type").ok_or(EventError::BadField("type"))?;
        let sender = required("sender").ok_or(EventError::BadField("sender"))?;
        if object.get("content").is_some_and(|c| !c.is_object()) {
            return Err(EventError::BadField("content"));
        }
        let origin_server_ts = match object.get("origin_server_ts") {
            None => None,
            Some(ts) => Some(ts.as_i64().ok_or(EventError::BadField("origin_server_ts"))?),
        };
        Ok(Self {
            state_key: optional("state_key")?,
            room_id: optional("room_id")?,
            event_id: optional("event_id")?,
            origin_server_ts,
            event_type,
            sender,
            json,
            full_json: OnceLock::new(),
            content_json: OnceLock::new(),
            full_json_len: None,
        })
    }

    /// The whole PDU.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// `type`.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// `sender`, unchecked.
    pub fn sender(&self) -> &str {
        &self.sender
    }

    /// The sender as a user ID, if it is one.
    pub fn sender_id(&self) -> Option<UserIdRef<'_>> {
        UserIdRef::parse(&self.sender)
    }

    /// `state_key`; `Some("")` is a state event too.
    pub fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }

    /// Whether this is a state event.
    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }

    /// `room_id` (absent on v12 create events).
    pub fn room_id(&self) -> Option<&str> {
        self.room_id.as_deref()
    }

    /// `event_id` if the PDU carries one (room versions 1 and 2).
    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    /// `origin_server_ts`.
    pub fn origin_server_ts(&self) -> Option<i64> {
        self.origin_server_ts
    }

    /// `content` (empty when absent).
    pub fn content(&self) -> &Map<String, Value> {
        self.json.get("content").and_then(Value::as_object).unwrap_or(&EMPTY)
    }

    /// A string field of the content.
    pub fn content_str(&self, key: &str) -> Option<&str> {
        self.content().get(key).and_then(Value::as_str)
    }

    /// `content.body` when it is a string.
    pub fn body(&self) -> Option<&str> {
        self.content_str("body")
    }

    /// `content.formatted_body` when it is a string.
    pub fn formatted_body(&self) -> Option<&str> {
        self.content_str("formatted_body")
    }

    /// `content.msgtype` when it is a string.
    pub fn msgtype(&self) -> Option<&str> {
        self.content_str("msgtype")
    }

    /// Whether this is an `m.room.message`.
    pub fn is_message(&self) -> bool {
        self.event_type == "m.room.message"
    }

    /// The content as compact JSON with sorted keys (what keyword, `@` and link filters search).
    pub fn content_json(&self) -> &str {
        self.content_json.get_or_init(|| match self.json.get("content") {
            Some(content @ Value::Object(_)) => content.to_string(),
            _ => "{}".to_owned(),
        })
    }

    /// The whole PDU as compact JSON with sorted keys.
    pub fn full_json(&self) -> &str {
        self.full_json.get_or_init(|| self.json.to_string())
    }

    /// The length of [`Self::full_json`], known without writing it when the event came with it.
    pub fn full_json_len(&self) -> usize {
        self.full_json_len.unwrap_or_else(|| self.full_json().len())
    }

    /// The same event, whose compact sorted JSON (canonical JSON, for a checked PDU) is known to be `len` bytes.
    #[must_use]
    pub fn with_full_json_len(mut self, len: usize) -> Self {
        self.full_json_len = Some(len);
        self
    }

    /// `content["m.mentions"].user_ids`, string entries only.
    pub fn mentioned_user_ids(&self) -> Vec<&str> {
        self.content()
            .get("m.mentions")
            .and_then(|m| m.get("user_ids"))
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Media URIs: `content.url` then `content.info.thumbnail_url` (policyserv's sources), each validated. Absent
    /// fields are skipped; present but malformed ones are returned as errors so callers decide (never a panic).
    pub fn media(&self) -> Vec<Result<MxcUri, MxcError>> {
        let content = self.content();
        let url = content.get("url");
        let thumbnail = content.get("info").and_then(|info| info.get("thumbnail_url"));
        [url, thumbnail]
            .into_iter()
            .flatten()
            .map(|value| value.as_str().ok_or(MxcError::NotMxc).and_then(MxcUri::parse))
            .collect()
    }

    /// `signatures` as (server, key ID, signature) triples, string signatures only.
    pub fn signatures(&self) -> Vec<(&str, &str, &Value)> {
        let Some(servers) = self.json.get("signatures").and_then(Value::as_object) else {
            return Vec::new();
        };
        servers
            .iter()
            .filter_map(|(server, keys)| keys.as_object().map(|keys| (server, keys)))
            .flat_map(|(server, keys)| {
                keys.iter().map(move |(key_id, sig)| (server.as_str(), key_id.as_str(), sig))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rejects_malformed_pdus() {
        let cases = [
            (json!([]), EventError::NotAnObject),
            (json!({"sender": "@a:b"}), EventError::BadField("type")),
            (json!({"type": "m.room.message"}), EventError::BadField("sender")),
            (json!({"type": 1, "sender": "@a:b"}), EventError::BadField("type")),
            (json!({"type": "t", "sender": "@a:b", "content": []}), EventError::BadField("content")),
            (json!({"type": "t", "sender": "@a:b", "state_key": 5}), EventError::BadField("state_key")),
            (
                json!({"type": "t", "sender": "@a:b", "origin_server_ts": "x"}),
                EventError::BadField("origin_server_ts"),
            ),
        ];
        for (json, want) in cases {
            assert_eq!(Event::from_json(json.clone()).unwrap_err(), want, "{json}");
        }
    }

    #[test]
    fn accessors() {
        let e = Event::from_json(json!({
            "type": "m.room.message", "sender": "@a:example.org", "room_id": "!r:example.org",
            "origin_server_ts": 5,
            "content": {"msgtype": "m.text", "body": 3, "formatted_body": "<b>x</b>",
                        "m.mentions": {"user_ids": ["@b:example.org", 7]}},
        }))
        .unwrap();
        assert!(e.is_message());
        assert!(!e.is_state());
        assert_eq!(e.body(), None, "non-string body is no body");
        assert_eq!(e.formatted_body(), Some("<b>x</b>"));
        assert_eq!(e.msgtype(), Some("m.text"));
        assert_eq!(e.mentioned_user_ids(), vec!["@b:example.org"]);
        assert_eq!(e.origin_server_ts(), Some(5));
        assert_eq!(e.room_id(), Some("!r:example.org"));
        let state =
            Event::from_json(json!({"type": "m.room.topic", "sender": "@a:b", "state_key": ""})).unwrap();
        assert_eq!(state.state_key(), Some(""));
        assert!(state.content().is_empty());
    }

    /// §8.3 #16 and §11.6: both media sources, in order; malformed URIs are errors, not panics.
    #[test]
    fn media_extraction() {
        let e = Event::from_json(json!({"type": "m.room.message", "sender": "@a:b", "content": {
            "url": "mxc://one.example.org/abc", "info": {"thumbnail_url": "mxc://two.example.org/def"}}}))
        .unwrap();
        let media: Vec<String> = e.media().into_iter().map(|m| m.unwrap().to_string()).collect();
        assert_eq!(media, vec!["mxc://one.example.org/abc", "mxc://two.example.org/def"]);
        let bad = Event::from_json(json!({"type": "m.room.message", "sender": "@a:b", "content": {
            "url": "mxc://host", "info": {"thumbnail_url": 12}}}))
        .unwrap();
        assert_eq!(bad.media(), vec![Err(MxcError::NoMediaId), Err(MxcError::NotMxc)]);
    }
}
