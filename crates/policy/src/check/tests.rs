use serde_json::{Value, json};

use super::*;
use crate::testing::{event, message};
use crate::{ContentClass, FilterMode, harms};

/// A room with 30 members named `Mention0`..`Mention29`.
fn thirty_members() -> Value {
    let mut state = vec![json!({"type": "m.room.create", "state_key": "", "sender": "@creator:example.org",
        "content": {"room_version": "12"}})];
    for i in 0..30 {
        state.push(json!({"type": "m.room.member", "state_key": format!("@m{i}:example.org"),
            "sender": format!("@m{i}:example.org"), "content": {"membership": "join", "displayname": format!("Mention{i}")}}));
    }
    Value::Array(state)
}

fn naming_everyone() -> Value {
    let body: Vec<String> = (0..30).map(|i| format!("Mention{i}")).collect();
    message("@sender:example.org", &format!("hey {}", body.join(" ")))
}

#[test]
fn thirty_mentions_are_refused_and_explained() {
    let verdict = check_offline(&json!({}), Some(&thirty_members()), &naming_everyone()).unwrap();
    assert_eq!(verdict.class, ContentClass::Prohibited);
    assert_eq!(verdict.harms, vec![harms::SPAM_FLOODING]);
    let entry = verdict.trace.iter().find(|t| t.filter == "mentions").unwrap();
    assert_eq!(entry.reason, "30 mentions >= limit 20");
    assert_eq!(entry.mode, FilterMode::Enforce);
    assert!(verdict.trace.iter().any(|t| t.filter == "hellban_postfilter"));
    let json = serde_json::to_value(&verdict).unwrap();
    assert_eq!(serde_json::from_value::<Verdict>(json).unwrap(), verdict);
}

#[test]
fn shadowed_mentions_are_recorded_but_not_enforced() {
    let config = json!({"filter_modes": {"mentions": "shadow"}});
    let verdict = check_offline(&config, Some(&thirty_members()), &naming_everyone()).unwrap();
    assert_eq!(verdict.class, ContentClass::Neutral);
    assert!(verdict.harms.is_empty());
    let entry = verdict.trace.iter().find(|t| t.filter == "mentions").unwrap();
    assert_eq!(entry.mode, FilterMode::Shadow);
    assert_eq!(entry.outcome, ContentClass::Prohibited);
    assert_eq!(entry.reason, "30 mentions >= limit 20");
    assert!(verdict.trace.iter().all(|t| t.filter != "hellban_postfilter"));
}

#[test]
fn room_override_only_affects_its_room() {
    let config = json!({
        "community": {"untrusted_media_filter_media_types": []},
        "rooms": {"!media:example.org": {"media_filter_media_types": []}},
    });
    let image = |room: &str| {
        let mut e = event(
            "m.room.message",
            "@a:example.org",
            json!({"msgtype": "m.image", "body": "cat.png",
            "url": "mxc://example.org/cat"}),
        );
        e["room_id"] = json!(room);
        e
    };
    let allowed = check_offline(&config, None, &image("!media:example.org")).unwrap();
    assert_eq!(allowed.class, ContentClass::Neutral, "{allowed:?}");
    let sibling = check_offline(&config, None, &image("!sibling:example.org")).unwrap();
    assert_eq!(sibling.class, ContentClass::Prohibited);
    assert!(sibling.harms.contains(&harms::PS_MEDIA.to_owned()));
}

#[test]
fn bad_inputs_are_errors() {
    let event = message("@a:example.org", "hi");
    assert!(matches!(check_offline(&json!({"nope": 1}), None, &event), Err(CheckError::Config(_))));
    assert!(matches!(
        check_offline(&json!({"community": {"webhook_url": "ftp://x"}}), None, &event),
        Err(CheckError::Config(_))
    ));
    assert!(matches!(check_offline(&json!({}), Some(&json!(5)), &event), Err(CheckError::RoomState(_))));
    assert!(matches!(check_offline(&json!({}), None, &json!([])), Err(CheckError::Event(_))));
    let err = check_offline(&json!({"rooms": {"!r:x": {"keyword_filter_keywords": [""]}}}), None, &event)
        .unwrap_err();
    assert!(err.to_string().contains("rooms.!r:x.keyword_filter_keywords"), "{err}");
}
