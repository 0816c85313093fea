//! The `m.room.policy` state event (MSC4284) in its stable and unstable shapes.

use ruma::{OwnedServerName, ServerName, events::room::policy::RoomPolicyEventContent, serde::Base64};
use serde_json::{Value, json};

use crate::{keys::lenient_base64, unstable};

/// The stable state event type.
pub const ROOM_POLICY_EVENT_TYPE: &str = "m.room.policy";

/// The policy server a room names, with the ed25519 key its signatures must verify with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomPolicy {
    /// The server that signs events for the room.
    pub via: OwnedServerName,
    /// The raw ed25519 public key.
    pub ed25519_key: [u8; 32],
}

impl RoomPolicy {
    /// Builds the policy for a server and key.
    pub fn new(via: &ServerName, ed25519_key: [u8; 32]) -> Self {
        Self { via: via.to_owned(), ed25519_key }
    }

    /// Reads the content of an `m.room.policy` (stable: `public_keys.ed25519`) or `org.matrix.msc4284.policy`
    /// (unstable: `public_key`) state event. `None` means the room has no usable policy server: the content is
    /// empty (`{}` switches the policy server off), names no valid server, or has no valid ed25519 key.
    pub fn from_content(event_type: &str, content: &Value) -> Option<Self> {
        let key = match event_type {
            ROOM_POLICY_EVENT_TYPE => content.get("public_keys")?.get("ed25519")?,
            unstable::ROOM_POLICY_EVENT_TYPE => content.get("public_key")?,
            _ => return None,
        };
        let via = ServerName::parse(content.get("via")?.as_str()?).ok()?;
        let ed25519_key = lenient_base64::decode(key.as_str()?).ok()?.try_into().ok()?;
        Some(Self { via, ed25519_key })
    }

    /// The content to paste into a room's stable `m.room.policy` state event.
    pub fn stable_content(&self) -> Value {
        json!({ "via": self.via.as_str(), "public_keys": { "ed25519": self.key_base64() } })
    }

    /// The content of the unstable `org.matrix.msc4284.policy` state event.
    pub fn unstable_content(&self) -> Value {
        json!({ "via": self.via.as_str(), "public_key": self.key_base64() })
    }

    /// The public key in unpadded standard base64.
    pub fn key_base64(&self) -> String {
        lenient_base64::encode(&self.ed25519_key)
    }

    pub(crate) fn to_ruma(&self) -> RoomPolicyEventContent {
        RoomPolicyEventContent::new(self.via.clone(), Base64::new(self.ed25519_key.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI";

    #[test]
    fn reads_stable_and_unstable_shapes_and_round_trips() {
        let stable = json!({"via": "policy.example.org", "public_keys": {"ed25519": KEY}});
        let unstable = json!({"via": "policy.example.org", "public_key": KEY});
        let a = RoomPolicy::from_content("m.room.policy", &stable).unwrap();
        let b = RoomPolicy::from_content("org.matrix.msc4284.policy", &unstable).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.stable_content(), stable);
        assert_eq!(a.unstable_content(), unstable);
    }

    #[test]
    fn empty_or_broken_content_means_no_policy_server() {
        let cases = [
            ("m.room.policy", json!({})),
            ("m.room.policy", json!({"via": "policy.example.org"})),
            ("m.room.policy", json!({"via": "policy.example.org", "public_key": KEY})),
            ("m.room.policy", json!({"via": "not a server name", "public_keys": {"ed25519": KEY}})),
            ("m.room.policy", json!({"via": "policy.example.org", "public_keys": {"ed25519": "AAAA"}})),
            (
                "org.matrix.msc4284.policy",
                json!({"via": "policy.example.org", "public_keys": {"ed25519": KEY}}),
            ),
            ("m.room.topic", json!({"via": "policy.example.org", "public_keys": {"ed25519": KEY}})),
        ];
        for (event_type, content) in cases {
            assert_eq!(RoomPolicy::from_content(event_type, &content), None, "{event_type} {content}");
        }
    }
}
