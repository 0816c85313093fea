//! What `/sign` needs to know about a room, read from the store: its version, policy server, ACL and state.

use std::sync::Arc;

use palisade_matrix::{RoomPolicy, RoomVersion, ServerName, room_policy::ROOM_POLICY_EVENT_TYPE, unstable};
use palisade_store::{JoinState, Room, StateEvent, Store};
use serde_json::Value;

use super::SignError;

/// A protected room as of this request.
#[derive(Debug, Clone)]
pub struct RoomContext {
    /// The stored room (community, overrides).
    pub room: Room,
    /// Its version's rules.
    pub version: RoomVersion,
    /// The policy server the room names; `None` when it names none or `m.room.policy` is `{}`.
    pub policy: Option<RoomPolicy>,
    /// The `m.room.server_acl` content, if any.
    pub server_acl: Option<Value>,
    /// The current state events (full event JSON), for the filters' room snapshot.
    pub state: Vec<Value>,
}

impl RoomContext {
    /// Loads a room we are joined to; anything else is [`SignError::UnknownRoom`].
    pub async fn load(store: &Arc<dyn Store>, room_id: &str) -> Result<Self, SignError> {
        let unknown = || SignError::UnknownRoom(room_id.to_owned());
        let room = store.get_room(room_id).await?.ok_or_else(unknown)?;
        if room.join_state != JoinState::Joined {
            return Err(unknown());
        }
        let version =
            RoomVersion::parse(&room.room_version).map_err(|e| SignError::Internal(e.to_string()))?;
        let state = store.get_room_state(room_id).await?;
        Ok(Self {
            policy: room_policy(&state),
            server_acl: content_of(&state, palisade_matrix::server_acl::SERVER_ACL_EVENT_TYPE).cloned(),
            state: state.into_iter().map(|event| event.event).collect(),
            room,
            version,
        })
    }

    /// Whether the room's policy server is us, with the key we sign with now.
    pub fn names_us(&self, server_name: &ServerName, policy_key: &[u8; 32]) -> bool {
        self.policy
            .as_ref()
            .is_some_and(|policy| policy.via == server_name && &policy.ed25519_key == policy_key)
    }
}

/// The stable `m.room.policy` decides when present (even `{}`, which switches the policy server off); the unstable
/// event counts only in rooms that never set the stable one.
fn room_policy(state: &[StateEvent]) -> Option<RoomPolicy> {
    match content_of(state, ROOM_POLICY_EVENT_TYPE) {
        Some(content) => RoomPolicy::from_content(ROOM_POLICY_EVENT_TYPE, content),
        None => RoomPolicy::from_content(
            unstable::ROOM_POLICY_EVENT_TYPE,
            content_of(state, unstable::ROOM_POLICY_EVENT_TYPE)?,
        ),
    }
}

fn content_of<'a>(state: &'a [StateEvent], event_type: &str) -> Option<&'a Value> {
    state
        .iter()
        .find(|event| event.event_type == event_type && event.state_key.is_empty())
        .and_then(|event| event.event.get("content"))
}
