//! Test rooms: real, hashed and signed PDUs of any room version, built in order with increasing depth.

use palisade_matrix::{
    CanonicalObject, Pdu, RoomVersion, SigningKey, canonical_json, event_id, signing::hash_and_sign_event,
};
use serde_json::{Value, json};

/// A room being built by one server.
pub(crate) struct RoomFixture {
    pub(crate) version: RoomVersion,
    pub(crate) room_id: String,
    server: String,
    key: SigningKey,
    depth: i64,
    counter: u32,
    last_event: Option<String>,
}

impl RoomFixture {
    /// A room of `version` created by `creator` on `server` (signing with `key`), and its create event.
    pub(crate) fn create(
        version: &str,
        creator: &str,
        server: &str,
        key: SigningKey,
        content: Value,
    ) -> (Self, Pdu) {
        let version = RoomVersion::parse(version).unwrap();
        let mut fixture = Self {
            room_id: format!("!fixture:{server}"),
            version,
            server: server.to_owned(),
            key,
            depth: 0,
            counter: 0,
            last_event: None,
        };
        let mut content = content;
        content["room_version"] = json!(fixture.version.as_str());
        let create = fixture.build("m.room.create", Some(""), creator, content, None);
        if fixture.version.room_id_is_create_event_hash() {
            fixture.room_id = event_id::room_id_from_create_event(create.as_object(), &fixture.version)
                .unwrap()
                .to_string();
        }
        (fixture, create)
    }

    /// The next event in the room, one deeper than the last.
    pub(crate) fn event(
        &mut self,
        event_type: &str,
        state_key: Option<&str>,
        sender: &str,
        content: Value,
    ) -> Pdu {
        self.build(event_type, state_key, sender, content, None)
    }

    /// An event at an explicit depth (for ordering tests); the fixture's own depth is not changed.
    pub(crate) fn event_at(
        &mut self,
        depth: i64,
        event_type: &str,
        state_key: Option<&str>,
        sender: &str,
        content: Value,
    ) -> Pdu {
        self.build(event_type, state_key, sender, content, Some(depth))
    }

    /// A membership event of `user` with `membership`, sent by `sender`.
    pub(crate) fn member(&mut self, sender: &str, user: &str, membership: &str, extra: Value) -> Pdu {
        let mut content = extra;
        if !content.is_object() {
            content = json!({});
        }
        content["membership"] = json!(membership);
        self.event("m.room.member", Some(user), sender, content)
    }

    /// An `m.room.redaction` of `target` by `sender`: `redacts` at the top level before v11, in the content from v11.
    pub(crate) fn redaction(&mut self, sender: &str, target: &str) -> Pdu {
        let redacts_in_content = self.version.as_str().parse::<u32>().is_ok_and(|v| v >= 11);
        let content = if redacts_in_content { json!({"redacts": target}) } else { json!({"reason": "test"}) };
        let top_level = (!redacts_in_content).then(|| target.to_owned());
        self.build_with("m.room.redaction", None, sender, content, None, top_level)
    }

    fn build(
        &mut self,
        event_type: &str,
        state_key: Option<&str>,
        sender: &str,
        content: Value,
        depth: Option<i64>,
    ) -> Pdu {
        self.build_with(event_type, state_key, sender, content, depth, None)
    }

    fn build_with(
        &mut self,
        event_type: &str,
        state_key: Option<&str>,
        sender: &str,
        content: Value,
        depth: Option<i64>,
        redacts: Option<String>,
    ) -> Pdu {
        let depth = depth.unwrap_or_else(|| {
            self.depth += 1;
            self.depth
        });
        self.counter += 1;
        let prev = self.last_event.clone().map(|id| self.reference(&id)).into_iter().collect::<Vec<_>>();
        let mut event = json!({
            "type": event_type,
            "sender": sender,
            "content": content,
            "origin_server_ts": 1_700_000_000_000_i64 + i64::from(self.counter),
            "depth": depth,
            "prev_events": prev,
            "auth_events": [],
        });
        if let Some(state_key) = state_key {
            event["state_key"] = json!(state_key);
        }
        if let Some(redacts) = redacts {
            event["redacts"] = json!(redacts);
        }
        let is_v12_create = event_type == "m.room.create" && self.version.room_id_is_create_event_hash();
        if !is_v12_create {
            event["room_id"] = json!(self.room_id);
        }
        if self.version.event_id_in_event() {
            event["event_id"] = json!(format!("$e{}:{}", self.counter, self.server));
        }
        let mut object: CanonicalObject = canonical_json::from_value(event).unwrap();
        hash_and_sign_event(&mut object, &self.server, &self.key, &self.version).unwrap();
        let pdu = Pdu::from_object(object, &self.version).unwrap();
        self.last_event = Some(pdu.event_id().to_string());
        pdu
    }

    /// An event reference in this version's format.
    fn reference(&self, id: &str) -> Value {
        if self.version.references_are_ids() { json!(id) } else { json!([id, {"sha256": "x"}]) }
    }
}
