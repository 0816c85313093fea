//! Server access control lists (`m.room.server_acl`): whether a server may take part in a room.

use ruma::{ServerName, events::room::server_acl::RoomServerAclEventContent};
use serde_json::Value;

/// The state event type.
pub const SERVER_ACL_EVENT_TYPE: &str = "m.room.server_acl";

/// Whether `server` may participate under the ACL `content` (spec: `allow_ip_literals`, then `deny` globs, then
/// `allow` globs, matched case-insensitively on the host without port). Content that is not a valid ACL allows
/// everyone, as homeservers ignore invalid ACL events.
pub fn is_allowed(content: &Value, server: &ServerName) -> bool {
    match serde_json::from_value::<RoomServerAclEventContent>(content.clone()) {
        Ok(acl) => acl.is_allowed(server),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn follows_the_spec_rules() {
        let acl =
            json!({"allow": ["*"], "deny": ["*.evil.example", "bad.example"], "allow_ip_literals": false});
        let cases = [
            ("good.example", true),
            ("GOOD.example:8448", true),
            ("bad.example", false),
            ("BAD.Example:443", false),
            ("x.evil.example", false),
            ("1.2.3.4", false),
            ("[::1]:8448", false),
        ];
        for (server, allowed) in cases {
            assert_eq!(is_allowed(&acl, <&ServerName>::try_from(server).unwrap()), allowed, "{server}");
        }
        let only = json!({"allow": ["trusted.example"]});
        assert!(is_allowed(&only, <&ServerName>::try_from("trusted.example").unwrap()));
        assert!(!is_allowed(&only, <&ServerName>::try_from("other.example").unwrap()));
        assert!(!is_allowed(&json!({}), <&ServerName>::try_from("other.example").unwrap()), "no allow list");
        assert!(is_allowed(&json!({"allow": "not a list"}), <&ServerName>::try_from("x.example").unwrap()));
    }
}
