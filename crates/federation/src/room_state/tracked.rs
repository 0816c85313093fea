//! Which state the tracker keeps: what the policy engine reads, and what the auth rules need to judge updates.

/// Event types kept with the empty state key only.
const ROOM_SINGLETONS: &[&str] = &[
    "m.room.create",
    "m.room.power_levels",
    "m.room.join_rules",
    "m.room.server_acl",
    "m.room.policy",
    "org.matrix.msc4284.policy",
    "m.room.topic",
    "m.room.name",
];

/// Prefixes of moderation policy-list rule types (stable, legacy and Mjolnir's), kept under any state key.
const POLICY_RULE_PREFIXES: &[&str] = &["m.policy.rule.", "m.room.rule.", "org.matrix.mjolnir.rule."];

/// Whether the state event `(event_type, state_key)` is kept in the room snapshot.
///
/// The room's name and topic are kept too, for operators looking at a room (`palisade room state`) and filters
/// that want the room's description. Everything else (avatars, widgets, aliases…) is skipped: nothing reads it,
/// and keeping it would make the snapshot grow with state the policy engine never looks at.
pub fn is_tracked(event_type: &str, state_key: &str) -> bool {
    if event_type == "m.room.member" {
        return true;
    }
    // Policy events with other state keys are not "the" policy (Synapse reads only `""`), but they are still
    // state the snapshot may expose; singletons are kept for the empty key alone.
    if ROOM_SINGLETONS.contains(&event_type) {
        return state_key.is_empty();
    }
    POLICY_RULE_PREFIXES.iter().any(|prefix| event_type.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::is_tracked;

    #[test]
    fn tracked_types() {
        for (event_type, state_key, expected) in [
            ("m.room.create", "", true),
            ("m.room.create", "x", false),
            ("m.room.power_levels", "", true),
            ("m.room.member", "@a:b", true),
            ("m.room.join_rules", "", true),
            ("m.room.server_acl", "", true),
            ("m.room.policy", "", true),
            ("org.matrix.msc4284.policy", "", true),
            ("m.policy.rule.user", "rule1", true),
            ("m.room.rule.server", "r", true),
            ("org.matrix.mjolnir.rule.room", "r", true),
            ("m.room.topic", "", true),
            ("m.room.topic", "x", false),
            ("m.room.name", "", true),
            ("m.room.avatar", "", false),
            ("m.policy.rules", "", false),
        ] {
            assert_eq!(is_tracked(event_type, state_key), expected, "{event_type} {state_key:?}");
        }
    }
}
