//! The tracker over a real SQLite store with real hashed and signed PDUs.

use std::sync::Arc;

use palisade_matrix::{Pdu, SigningKey};
use palisade_store::{Room, Store};
use serde_json::{Value, json};

use super::{fixtures::RoomFixture, *};

const ADMIN: &str = "@admin:hs.test";
const MOD: &str = "@mod:hs.test";
const ALICE: &str = "@alice:hs.test";
const BOB: &str = "@bob:hs.test";

async fn store_with_room(room_id: &str, version: &str) -> Arc<dyn Store> {
    let store = palisade_store::open("sqlite::memory:").await.unwrap();
    store.put_room(&Room::joined(room_id, version, "default")).await.unwrap();
    store
}

fn key() -> SigningKey {
    SigningKey::from_seed(&[7; 32], "k1").unwrap()
}

/// A public room of `version`: create by ADMIN, ADMIN joined, power levels (ADMIN 100, MOD 50), join rule public,
/// ALICE joined. Returns the fixture and the state PDUs.
fn public_room(version: &str) -> (RoomFixture, Vec<Pdu>) {
    let (mut room, create) = RoomFixture::create(version, ADMIN, "hs.test", key(), json!({}));
    let admin_join = room.member(ADMIN, ADMIN, "join", json!({"displayname": "Admin"}));
    let admin_level = if version == "12" { json!({MOD: 50}) } else { json!({ADMIN: 100, MOD: 50}) };
    let levels = room.event("m.room.power_levels", Some(""), ADMIN, json!({"users": admin_level}));
    let rules = room.event("m.room.join_rules", Some(""), ADMIN, json!({"join_rule": "public"}));
    let mod_join = room.member(MOD, MOD, "join", json!({}));
    let alice_join = room.member(ALICE, ALICE, "join", json!({"displayname": "Alice"}));
    (room, vec![create, admin_join, levels, rules, mod_join, alice_join])
}

async fn seeded(version: &str) -> (RoomFixture, RoomStateTracker, Arc<dyn Store>) {
    let (room, state) = public_room(version);
    let store = store_with_room(&room.room_id, version).await;
    let tracker = RoomStateTracker::new(store.clone());
    let report = tracker.seed(&room.room_id, &room.version, &state).await.unwrap();
    assert_eq!(report.stored, 6);
    (room, tracker, store)
}

async fn content(store: &Arc<dyn Store>, room_id: &str, event_type: &str, state_key: &str) -> Option<Value> {
    let event = store.get_state_event(room_id, event_type, state_key).await.unwrap()?;
    Some(event.event["content"].clone())
}

fn unauthorised(report: &ApplyReport) -> bool {
    report.applied.is_empty() && matches!(report.skipped.as_slice(), [(_, Skipped::Unauthorised(_))])
}

#[tokio::test]
async fn seed_keeps_only_tracked_state() {
    let (mut room, mut state) = public_room("11");
    state.push(room.event("m.room.avatar", Some(""), ADMIN, json!({"url": "mxc://a.test/b"})));
    state.push(room.event("m.room.message", None, ADMIN, json!({"body": "not state"})));
    let store = store_with_room(&room.room_id, "11").await;
    let report =
        RoomStateTracker::new(store.clone()).seed(&room.room_id, &room.version, &state).await.unwrap();
    assert_eq!(report, SeedReport { stored: 6, ignored: 1 });
    assert!(content(&store, &room.room_id, "m.room.avatar", "").await.is_none());
    assert_eq!(content(&store, &room.room_id, "m.room.member", ALICE).await.unwrap()["displayname"], "Alice");
    assert!(store.get_room(&room.room_id).await.unwrap().unwrap().last_state_update_ms > 0);
}

#[tokio::test]
async fn topic_change_applies_when_the_sender_may_set_state() {
    let (mut room, tracker, store) = seeded("11").await;
    let by_admin = room.event("m.room.topic", Some(""), ADMIN, json!({"topic": "rules: be nice"}));
    let report = tracker.apply(&room.room_id, &[by_admin]).await.unwrap();
    assert_eq!(report.applied.len(), 1, "{report:?}");
    assert_eq!(content(&store, &room.room_id, "m.room.topic", "").await.unwrap()["topic"], "rules: be nice");
    // Alice (power 0) is below the default state level of 50.
    let by_alice = room.event("m.room.topic", Some(""), ALICE, json!({"topic": "spam"}));
    assert!(unauthorised(&tracker.apply(&room.room_id, &[by_alice]).await.unwrap()));
    assert_eq!(content(&store, &room.room_id, "m.room.topic", "").await.unwrap()["topic"], "rules: be nice");
}

#[tokio::test]
async fn power_level_change_by_admin_applies() {
    let (mut room, tracker, store) = seeded("11").await;
    let change = room.event(
        "m.room.power_levels",
        Some(""),
        ADMIN,
        json!({"users": {ADMIN: 100, MOD: 50, ALICE: 50}}),
    );
    let report = tracker.apply(&room.room_id, &[change]).await.unwrap();
    assert_eq!(report.applied.len(), 1, "{report:?}");
    assert_eq!(content(&store, &room.room_id, "m.room.power_levels", "").await.unwrap()["users"][ALICE], 50);
}

#[tokio::test]
async fn power_level_change_by_non_admin_is_ignored() {
    let (mut room, tracker, store) = seeded("11").await;
    // Alice has power 0; the moderator has 50 but cannot raise someone to 100 or touch the admin.
    let by_alice = room.event("m.room.power_levels", Some(""), ALICE, json!({"users": {ALICE: 100}}));
    assert!(unauthorised(&tracker.apply(&room.room_id, &[by_alice]).await.unwrap()));
    let by_mod = room.event(
        "m.room.power_levels",
        Some(""),
        MOD,
        json!({"users": {ADMIN: 100, MOD: 100}, "state_default": 50}),
    );
    assert!(unauthorised(&tracker.apply(&room.room_id, &[by_mod]).await.unwrap()));
    let demote_admin =
        room.event("m.room.power_levels", Some(""), MOD, json!({"users": {ADMIN: 0, MOD: 50}}));
    assert!(unauthorised(&tracker.apply(&room.room_id, &[demote_admin]).await.unwrap()));
    let levels = content(&store, &room.room_id, "m.room.power_levels", "").await.unwrap();
    assert_eq!(levels["users"], json!({ADMIN: 100, MOD: 50}));
}

#[tokio::test]
async fn ban_rule_from_pdu_appears_in_room_state() {
    let (mut room, tracker, store) = seeded("10").await;
    let rule = json!({"entity": "@spammer:evil.test", "recommendation": "m.ban", "reason": "spam"});
    let by_admin = room.event("m.policy.rule.user", Some("rule1"), ADMIN, rule.clone());
    let by_alice = room.event("m.policy.rule.user", Some("rule2"), ALICE, rule);
    let report = tracker.apply(&room.room_id, &[by_admin, by_alice]).await.unwrap();
    assert_eq!(report.applied.len(), 1);
    let state = store.get_room_state(&room.room_id).await.unwrap();
    let rules: Vec<_> = state.iter().filter(|e| e.event_type == "m.policy.rule.user").collect();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].state_key, "rule1");
    assert_eq!(rules[0].event["content"]["entity"], "@spammer:evil.test");
}

#[tokio::test]
async fn member_join_display_name_and_leave() {
    let (mut room, tracker, store) = seeded("11").await;
    let join = room.member(BOB, BOB, "join", json!({"displayname": "Bob"}));
    let rename = room.member(BOB, BOB, "join", json!({"displayname": "Robert"}));
    let report = tracker.apply(&room.room_id, &[rename, join]).await.unwrap();
    assert_eq!(report.applied.len(), 2, "sorted by depth, the join comes first: {report:?}");
    assert_eq!(content(&store, &room.room_id, "m.room.member", BOB).await.unwrap()["displayname"], "Robert");

    // Someone else cannot set Bob's membership to join, nor leave on his behalf without kick power.
    let forged = room.member(ALICE, BOB, "join", json!({"displayname": "Forged"}));
    assert!(unauthorised(&tracker.apply(&room.room_id, &[forged]).await.unwrap()));
    let kick_by_alice = room.member(ALICE, BOB, "leave", json!({}));
    assert!(unauthorised(&tracker.apply(&room.room_id, &[kick_by_alice]).await.unwrap()));

    let leave = room.member(BOB, BOB, "leave", json!({}));
    assert_eq!(tracker.apply(&room.room_id, &[leave]).await.unwrap().applied.len(), 1);
    assert_eq!(content(&store, &room.room_id, "m.room.member", BOB).await.unwrap()["membership"], "leave");
    // A left user cannot leave again, nor send state.
    let rule =
        room.event("m.policy.rule.server", Some("r"), BOB, json!({"entity": "x", "recommendation": "m.ban"}));
    assert!(unauthorised(&tracker.apply(&room.room_id, &[rule]).await.unwrap()));
}

#[tokio::test]
async fn kick_ban_and_invite_rules() {
    let (mut room, tracker, store) = seeded("11").await;
    // The moderator (50) kicks Alice (0): allowed. Alice cannot ban the moderator.
    let kick = room.member(MOD, ALICE, "leave", json!({}));
    assert_eq!(tracker.apply(&room.room_id, &[kick]).await.unwrap().applied.len(), 1);
    let rejoin = room.member(ALICE, ALICE, "join", json!({}));
    assert_eq!(
        tracker.apply(&room.room_id, &[rejoin]).await.unwrap().applied.len(),
        1,
        "rejoin after a kick"
    );
    let ban_by_alice = room.member(ALICE, MOD, "ban", json!({}));
    assert!(unauthorised(&tracker.apply(&room.room_id, &[ban_by_alice]).await.unwrap()));
    // The moderator cannot ban the admin (who outranks them), but can ban Alice, who then cannot rejoin.
    let ban_admin = room.member(MOD, ADMIN, "ban", json!({}));
    assert!(unauthorised(&tracker.apply(&room.room_id, &[ban_admin]).await.unwrap()));
    let ban = room.member(MOD, ALICE, "ban", json!({}));
    assert_eq!(tracker.apply(&room.room_id, &[ban]).await.unwrap().applied.len(), 1);
    let banned_join = room.member(ALICE, ALICE, "join", json!({}));
    assert!(unauthorised(&tracker.apply(&room.room_id, &[banned_join]).await.unwrap()));
    assert_eq!(content(&store, &room.room_id, "m.room.member", ALICE).await.unwrap()["membership"], "ban");

    // In an invite-only room, Bob needs an invite first.
    let invite_only = room.event("m.room.join_rules", Some(""), ADMIN, json!({"join_rule": "invite"}));
    let uninvited = room.member(BOB, BOB, "join", json!({}));
    let report = tracker.apply(&room.room_id, &[invite_only, uninvited]).await.unwrap();
    assert_eq!(report.applied.len(), 1);
    let invite = room.member(ADMIN, BOB, "invite", json!({}));
    let join = room.member(BOB, BOB, "join", json!({}));
    assert_eq!(tracker.apply(&room.room_id, &[invite, join]).await.unwrap().applied.len(), 2);
}

#[tokio::test]
async fn v12_creators_have_infinite_power() {
    let (mut room, tracker, store) = seeded("12").await;
    assert_eq!(room.version.as_str(), "12");
    assert!(room.room_id.starts_with('!') && !room.room_id.contains(':'), "v12 room IDs are hashes");
    // The creator is not in `users` yet may change anything, and cannot be kicked by the moderator.
    let policy = room.event(
        "m.room.policy",
        Some(""),
        ADMIN,
        json!({"via": "ps.test", "public_keys": {"ed25519": "k"}}),
    );
    let kick_creator = room.member(MOD, ADMIN, "leave", json!({}));
    let report = tracker.apply(&room.room_id, &[policy, kick_creator]).await.unwrap();
    assert_eq!(report.applied.len(), 1, "{report:?}");
    assert!(matches!(report.skipped[0].1, Skipped::Unauthorised(AuthRejection::TargetOutranks { .. })));
    assert_eq!(content(&store, &room.room_id, "m.room.policy", "").await.unwrap()["via"], "ps.test");
    // Creators may not be listed in power levels.
    let listed = room.event("m.room.power_levels", Some(""), ADMIN, json!({"users": {ADMIN: 100}}));
    assert!(unauthorised(&tracker.apply(&room.room_id, &[listed]).await.unwrap()));
}

#[tokio::test]
async fn v12_additional_creators() {
    let (mut room, create) =
        RoomFixture::create("12", ADMIN, "hs.test", key(), json!({"additional_creators": [BOB]}));
    let join = room.member(ADMIN, ADMIN, "join", json!({}));
    let rules = room.event("m.room.join_rules", Some(""), ADMIN, json!({"join_rule": "public"}));
    let levels = room.event("m.room.power_levels", Some(""), ADMIN, json!({"users": {}}));
    let store = store_with_room(&room.room_id, "12").await;
    let tracker = RoomStateTracker::new(store.clone());
    tracker.seed(&room.room_id, &room.version, &[create, join, rules, levels]).await.unwrap();
    let bob_join = room.member(BOB, BOB, "join", json!({}));
    let acl = room.event("m.room.server_acl", Some(""), BOB, json!({"allow": ["*"], "deny": ["evil.test"]}));
    let report = tracker.apply(&room.room_id, &[bob_join, acl]).await.unwrap();
    assert_eq!(report.applied.len(), 2, "{report:?}");
    assert_eq!(
        content(&store, &room.room_id, "m.room.server_acl", "").await.unwrap()["deny"][0],
        "evil.test"
    );
}

#[tokio::test]
async fn create_only_once_and_stale_events_ignored() {
    let (mut room, tracker, store) = seeded("11").await;
    let second_create = room.event("m.room.create", Some(""), ADMIN, json!({"room_version": "11"}));
    let report = tracker.apply(&room.room_id, &[second_create]).await.unwrap();
    assert_eq!(report.skipped[0].1, Skipped::Unauthorised(AuthRejection::CreateExists));

    // An authorised but older (shallower) join-rules event does not replace the stored one.
    let old = room.event_at(1, "m.room.join_rules", Some(""), ADMIN, json!({"join_rule": "invite"}));
    let report = tracker.apply(&room.room_id, &[old]).await.unwrap();
    assert!(matches!(report.skipped[0].1, Skipped::Stale { depth: 1, .. }), "{report:?}");
    assert_eq!(content(&store, &room.room_id, "m.room.join_rules", "").await.unwrap()["join_rule"], "public");
}

#[tokio::test]
async fn non_state_wrong_room_and_unknown_room() {
    let (mut room, tracker, _store) = seeded("11").await;
    let message = room.event("m.room.message", None, ALICE, json!({"body": "hi"}));
    let avatar = room.event("m.room.avatar", Some(""), ADMIN, json!({"url": "mxc://a.test/b"}));
    let report = tracker.apply(&room.room_id, &[message.clone(), avatar]).await.unwrap();
    assert_eq!(
        report.skipped.iter().map(|s| s.1.clone()).collect::<Vec<_>>(),
        vec![Skipped::NotState, Skipped::NotTracked]
    );
    let report = tracker.apply("!other:hs.test", &[message]).await.unwrap();
    assert_eq!(report.skipped[0].1, Skipped::UnknownRoom);
}

// ----- redactions ------------------------------------------------------------------------------------------------

const EVE: &str = "@eve:other.test";

#[tokio::test]
async fn redacted_policy_rule_keeps_no_content() {
    // v10: `redacts` at the top level.
    let (mut room, tracker, store) = seeded("10").await;
    let rule = room.event(
        "m.policy.rule.user",
        Some("rule1"),
        ADMIN,
        json!({"entity": "@spammer:evil.test", "recommendation": "m.ban", "reason": "spam"}),
    );
    let rule_id = rule.event_id().to_string();
    tracker.apply(&room.room_id, std::slice::from_ref(&rule)).await.unwrap();
    let redaction = room.redaction(MOD, &rule_id);
    let report = tracker.apply(&room.room_id, std::slice::from_ref(&redaction)).await.unwrap();
    assert_eq!(report.redacted, vec![(redaction.event_id().to_string(), rule_id.clone())], "{report:?}");
    assert!(report.applied.is_empty() && report.skipped.is_empty(), "{report:?}");
    let stored = store.get_state_event(&room.room_id, "m.policy.rule.user", "rule1").await.unwrap().unwrap();
    assert_eq!(stored.event_id, rule_id);
    assert_eq!(stored.event["content"], json!({}));
    assert_eq!(stored.event["sender"], ADMIN, "the redaction algorithm keeps the top-level keys it lists");

    // The original arriving again does not undo the redaction, and a second redaction changes nothing.
    let report = tracker.apply(&room.room_id, &[rule]).await.unwrap();
    assert_eq!(report.skipped[0].1, Skipped::AlreadyApplied);
    let again = room.redaction(ADMIN, &rule_id);
    let report = tracker.apply(&room.room_id, &[again]).await.unwrap();
    assert_eq!(report.skipped[0].1, Skipped::AlreadyRedacted);
    assert_eq!(content(&store, &room.room_id, "m.policy.rule.user", "rule1").await.unwrap(), json!({}));
}

#[tokio::test]
async fn v11_redactions_name_their_target_in_content_and_keep_what_the_version_keeps() {
    let (mut room, tracker, store) = seeded("11").await;
    let topic = room.event("m.room.topic", Some(""), ADMIN, json!({"topic": "old rules"}));
    let levels = room.event(
        "m.room.power_levels",
        Some(""),
        ADMIN,
        json!({"users": {ADMIN: 100, MOD: 50}, "invite": 50, "notifications": {"room": 50}}),
    );
    let redact_topic = room.redaction(MOD, topic.event_id().as_str());
    let redact_levels = room.redaction(ADMIN, levels.event_id().as_str());
    // The events and their redactions in one transaction, out of order: depth order applies them correctly.
    let batch = [redact_levels, levels, redact_topic, topic];
    let report = tracker.apply(&room.room_id, &batch).await.unwrap();
    assert_eq!(report.applied.len(), 2, "{report:?}");
    assert_eq!(report.redacted.len(), 2, "{report:?}");
    assert_eq!(content(&store, &room.room_id, "m.room.topic", "").await.unwrap(), json!({}));
    // v11 keeps `users` and `invite` of power levels; `notifications` goes.
    let levels = content(&store, &room.room_id, "m.room.power_levels", "").await.unwrap();
    assert_eq!(levels, json!({"users": {ADMIN: 100, MOD: 50}, "invite": 50}));
}

#[tokio::test]
async fn redactions_need_the_redact_level_unless_from_the_targets_server() {
    let (mut room, tracker, store) = seeded("11").await;
    let rule = json!({"entity": "@spammer:evil.test", "recommendation": "m.ban"});
    let rule = room.event("m.policy.rule.user", Some("rule1"), ADMIN, rule);
    let eve_join = room.member(EVE, EVE, "join", json!({}));
    tracker.apply(&room.room_id, &[rule.clone(), eve_join]).await.unwrap();

    // Eve (power 0, another server) may not redact the admin's rule; nobody who is not joined may redact at all.
    let by_eve = room.redaction(EVE, rule.event_id().as_str());
    let by_outsider = room.redaction("@out:other.test", rule.event_id().as_str());
    let report = tracker.apply(&room.room_id, &[by_eve, by_outsider]).await.unwrap();
    assert!(report.redacted.is_empty(), "{report:?}");
    assert!(matches!(
        &report.skipped[0].1,
        Skipped::Unauthorised(AuthRejection::NotEnoughPower { needed: 50, .. })
    ));
    assert!(matches!(&report.skipped[1].1, Skipped::Unauthorised(AuthRejection::SenderNotJoined(_))));
    assert_eq!(
        content(&store, &room.room_id, "m.policy.rule.user", "rule1").await.unwrap()["entity"],
        "@spammer:evil.test"
    );

    // Alice (power 0) is on the rule's server: her server vouches for the redaction, as the spec lets it.
    let by_alice = room.redaction(ALICE, rule.event_id().as_str());
    assert_eq!(tracker.apply(&room.room_id, &[by_alice]).await.unwrap().redacted.len(), 1);
    assert_eq!(content(&store, &room.room_id, "m.policy.rule.user", "rule1").await.unwrap(), json!({}));
}

#[tokio::test]
async fn redactions_of_messages_and_unknown_events_change_nothing() {
    let (mut room, tracker, store) = seeded("11").await;
    let before = store.get_room_state(&room.room_id).await.unwrap();
    let message = room.event("m.room.message", None, ALICE, json!({"body": "hi"}));
    let of_message = room.redaction(MOD, message.event_id().as_str());
    let of_unknown = room.redaction(MOD, "$unknown");
    let message_id = message.event_id().to_string();
    let report = tracker.apply(&room.room_id, &[message, of_message, of_unknown]).await.unwrap();
    assert_eq!(
        report.skipped.iter().map(|s| s.1.clone()).collect::<Vec<_>>(),
        vec![
            Skipped::NotState,
            Skipped::RedactsNothingTracked { target: Some(message_id) },
            Skipped::RedactsNothingTracked { target: Some("$unknown".to_owned()) },
        ]
    );
    assert_eq!(store.get_room_state(&room.room_id).await.unwrap(), before);
}
