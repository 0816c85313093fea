use serde_json::json;

use super::rule::entity_hash;
use super::*;

fn rule(event_type: &str, state_key: &str, content: Value) -> PolicyRuleSource {
    PolicyRuleSource { event_type: event_type.to_owned(), state_key: state_key.to_owned(), content }
}

fn ban(event_type: &str, entity: &str) -> PolicyRuleSource {
    rule(event_type, entity, json!({"entity": entity, "recommendation": "m.ban", "reason": "spam"}))
}

fn verdict(set: &PolicyRuleSet, user: &str) -> Option<Recommendation> {
    set.check_user(user).map(|m| m.recommendation)
}

/// §8.4 #25 and §8.6 #54 (plus the server rules policyserv never learned).
#[test]
fn policyserv_vectors() {
    let set = PolicyRuleSet::from_lists(&[vec![
        ban("m.policy.rule.user", "@alice*:example.org"),
        ban("m.policy.rule.server", "*.example.org"),
    ]]);
    let cases = [
        ("@aliceeeeeeeeee:example.org", true),
        ("@bob:subdomain.example.org", true),
        ("@alic:example.org", false),
        ("@bob:example.org", false),
    ];
    for (user, banned) in cases {
        assert_eq!(verdict(&set, user).is_some(), banned, "{user}");
    }
    let set = PolicyRuleSet::from_lists(&[vec![
        ban("m.policy.rule.user", "@alice*:*"),
        ban("m.policy.rule.server", "*.example.org"),
    ]]);
    for user in [
        "@alice:example.org",
        "@aliceeeeee:example.org",
        "@alice:subdomain.example.org",
        "@bob:subdomain.example.org",
    ] {
        assert_eq!(verdict(&set, user), Some(Recommendation::Ban), "{user}");
    }
    assert_eq!(verdict(&set, "@bob:example.org"), None);
}

#[test]
fn globs_servers_ports_and_case() {
    let set = PolicyRuleSet::from_lists(&[vec![
        ban("m.policy.rule.user", "@spam?:example.org"),
        ban("m.policy.rule.server", "Evil.Example"),
    ]]);
    let cases = [
        ("@spam1:example.org", true),
        ("@spam:example.org", false),
        ("@spam12:example.org", false),
        ("@x:evil.example:8448", true),
        ("@x:EVIL.example", true),
        ("@x:notevil.example", false),
        ("not a user", false),
    ];
    for (user, banned) in cases {
        assert_eq!(verdict(&set, user).is_some(), banned, "{user}");
    }
}

#[test]
fn legacy_types_recommendations_and_removal() {
    let set = PolicyRuleSet::from_lists(&[vec![
        rule(
            "org.matrix.mjolnir.rule.user",
            "r1",
            json!({"entity": "@a:x", "recommendation": "org.matrix.mjolnir.ban"}),
        ),
        rule("m.room.rule.user", "r2", json!({"entity": "@b:x", "recommendation": "m.ban"})),
        rule("m.policy.rule.user", "r3", json!({"entity": "@c:x", "recommendation": "org.example.unknown"})),
        // Same state key: the stable (removed) rule wins over the legacy ban.
        rule("m.policy.rule.user", "r4", json!({})),
        rule("org.matrix.mjolnir.rule.user", "r4", json!({"entity": "@d:x", "recommendation": "m.ban"})),
        // Same state key: stable ban wins over legacy variant naming someone else.
        rule("m.room.rule.user", "r5", json!({"entity": "@f:x", "recommendation": "m.ban"})),
        rule("m.policy.rule.user", "r5", json!({"entity": "@e:x", "recommendation": "m.ban"})),
        rule("m.policy.rule.user", "r6", json!({"recommendation": "m.ban"})),
        rule("m.policy.rule.user", "r7", Value::Null),
        rule("m.policy.rule.somethingelse", "r8", json!({"entity": "@g:x", "recommendation": "m.ban"})),
    ]]);
    let cases = [
        ("@a:x", Some(Recommendation::Ban)),
        ("@b:x", Some(Recommendation::Ban)),
        ("@c:x", None),
        ("@d:x", None),
        ("@e:x", Some(Recommendation::Ban)),
        ("@f:x", None),
        ("@g:x", None),
    ];
    for (user, want) in cases {
        assert_eq!(verdict(&set, user), want, "{user}");
    }
    assert_eq!(set.len(), 3);
}

#[test]
fn priority_allow_overrides_lower_ban_and_takedown_hides_reason() {
    let high = vec![rule(
        "m.policy.rule.user",
        "a",
        json!({"entity": "@good:x", "recommendation": "org.matrix.mjolnir.allow"}),
    )];
    let low = vec![
        ban("m.policy.rule.server", "x"),
        rule(
            "m.policy.rule.user",
            "t",
            json!({"entity": "@evil:y", "recommendation": "m.takedown", "reason": "secret"}),
        ),
    ];
    let set = PolicyRuleSet::from_lists(&[high.clone(), low.clone()]);
    assert_eq!(verdict(&set, "@good:x"), Some(Recommendation::Allow));
    assert_eq!(verdict(&set, "@other:x"), Some(Recommendation::Ban));
    let takedown = set.check_user("@evil:y").unwrap();
    assert_eq!(takedown.recommendation, Recommendation::Takedown);
    assert_eq!(takedown.reason, None);
    assert_eq!(takedown.list_index, 1);
    // Reversed priority: the ban list now comes first and wins.
    let set = PolicyRuleSet::from_lists(&[low, high]);
    assert_eq!(verdict(&set, "@good:x"), Some(Recommendation::Ban));
    // Within one list, the most severe match wins.
    let set = PolicyRuleSet::from_lists(&[vec![
        rule("m.policy.rule.user", "1", json!({"entity": "@m:x", "recommendation": "fi.mau.meowlnir.unban"})),
        ban("m.policy.rule.user", "@m:*"),
    ]]);
    assert_eq!(verdict(&set, "@m:x"), Some(Recommendation::Ban));
}

/// MSC4205 hashed entities, both field names.
#[test]
fn hashed_entities() {
    let set = PolicyRuleSet::from_lists(&[vec![
        rule(
            "m.policy.rule.user",
            "h1",
            json!({"recommendation": "m.ban", "hashes": {"sha256": entity_hash("@hidden:x")}}),
        ),
        rule(
            "m.policy.rule.server",
            "h2",
            json!({"recommendation": "m.ban",
            "org.matrix.msc4205.hashes": {"sha256": entity_hash("bad.example")}}),
        ),
    ]]);
    assert_eq!(verdict(&set, "@hidden:x"), Some(Recommendation::Ban));
    assert_eq!(verdict(&set, "@visible:x"), None);
    assert_eq!(verdict(&set, "@anyone:bad.example:8448"), Some(Recommendation::Ban));
    assert_eq!(verdict(&set, "@anyone:BAD.example"), Some(Recommendation::Ban));
    assert_eq!(set.check_user("@hidden:x").unwrap().entity, "<hashed>");
    // The FIPS 180-2 "abc" vector.
    assert_eq!(entity_hash("abc"), "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
}

#[test]
fn room_rules_only_match_rooms() {
    let set = PolicyRuleSet::from_lists(&[vec![ban("m.policy.rule.room", "*")]]);
    assert_eq!(verdict(&set, "@anyone:x"), None, "policyserv matched room rules against users");
    assert_eq!(set.check_room("!r:x").map(|m| m.recommendation), Some(Recommendation::Ban));
}
