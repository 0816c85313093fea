//! A protected v12 room for tests of the `/sign` decision and its HTTP endpoints: a joined room whose
//! `m.room.policy` names us, and events signed by an origin server whose key is already cached.

use palisade_matrix::{
    CanonicalObject, RoomPolicy, RoomVersion, ServerName, SigningKey, canonical_json,
    event_id::room_id_from_create_event, signing::hash_and_sign_event,
};
use palisade_store::{Room, ServerKey, StateEvent};
use serde_json::{Value, json};

use super::{SignError, SignOutcome, sign};
use crate::http::{AppState, test_support};

pub(crate) const ORIGIN: &str = "origin.example.org";
pub(crate) const US: &str = "@policyserv:palisade.example.org";

pub(crate) fn origin_key() -> SigningKey {
    SigningKey::from_seed(&[7; 32], "a_origin").unwrap()
}

pub(crate) fn v12() -> RoomVersion {
    RoomVersion::parse("12").unwrap()
}

pub(crate) fn origin() -> &'static ServerName {
    <&ServerName>::try_from(ORIGIN).unwrap()
}

/// Signs an event as the origin server would.
pub(crate) fn signed(mut event: Value) -> CanonicalObject {
    event.as_object_mut().unwrap().remove("event_id");
    let mut object = canonical_json::from_value(event).unwrap();
    hash_and_sign_event(&mut object, ORIGIN, &origin_key(), &v12()).unwrap();
    object
}

pub(crate) fn bytes(object: &CanonicalObject) -> Vec<u8> {
    serde_json::to_vec(object).unwrap()
}

pub(crate) struct Room12 {
    pub(crate) state: AppState,
    pub(crate) room_id: String,
}

impl Room12 {
    pub(crate) fn message(&self, body: &str, depth: i64) -> CanonicalObject {
        self.message_from(&format!("@alice:{ORIGIN}"), body, depth)
    }

    pub(crate) fn message_from(&self, sender: &str, body: &str, depth: i64) -> CanonicalObject {
        signed(json!({
            "type": "m.room.message", "room_id": self.room_id, "sender": sender,
            "origin_server_ts": 1_700_000_000_000_i64 + depth, "depth": depth, "prev_events": ["$p"],
            "auth_events": ["$a"], "content": {"msgtype": "m.text", "body": body},
        }))
    }

    pub(crate) async fn put_state(&self, event_type: &str, state_key: &str, content: Value, depth: i64) {
        let event = json!({
            "type": event_type, "state_key": state_key, "room_id": self.room_id, "sender": format!("@alice:{ORIGIN}"),
            "content": content, "depth": depth, "origin_server_ts": 1, "event_id": format!("${event_type}{state_key}"),
        });
        let row = StateEvent {
            event_type: event_type.to_owned(),
            state_key: state_key.to_owned(),
            event_id: format!("${event_type}{state_key}"),
            event,
        };
        self.state.store.put_state_events(&self.room_id, &[row]).await.unwrap();
    }

    pub(crate) async fn sign(&self, object: &CanonicalObject) -> Result<SignOutcome, SignError> {
        sign(&self.state, origin(), &bytes(object)).await
    }
}

/// A joined v12 room whose `m.room.policy` names us, with the origin's key already in the key cache.
pub(crate) async fn protected_room() -> Room12 {
    let state = test_support::state().await;
    let create = signed(json!({
        "type": "m.room.create", "state_key": "", "sender": format!("@alice:{ORIGIN}"), "origin_server_ts": 1,
        "depth": 1, "prev_events": [], "auth_events": [], "content": {"room_version": "12"},
    }));
    let room_id = room_id_from_create_event(&create, &v12()).unwrap().to_string();
    state.store.put_room(&Room::joined(room_id.clone(), "12", "default")).await.unwrap();
    state
        .store
        .put_server_key(&ServerKey {
            server_name: ORIGIN.to_owned(),
            key_id: origin_key().key_id(),
            public_key: origin_key().public_key_base64(),
            valid_until_ts: i64::MAX / 2,
            expired_ts: None,
        })
        .await
        .unwrap();
    let room = Room12 { room_id, state };
    let policy = RoomPolicy::new(room.state.server_name.as_ref(), room.state.keys.policy.public_key());
    room.put_state("m.room.policy", "", policy.stable_content(), 3).await;
    room.put_state("m.room.member", US, json!({"membership": "join"}), 10).await;
    room.put_state("m.room.member", &format!("@alice:{ORIGIN}"), json!({"membership": "join"}), 2).await;
    room
}

pub(crate) fn our_policy(state: &AppState) -> RoomPolicy {
    RoomPolicy::new(state.server_name.as_ref(), state.keys.policy.public_key())
}
