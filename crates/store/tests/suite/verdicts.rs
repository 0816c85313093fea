//! Verdicts: exact round trips per class, first-writer-wins, room keying, reference hashes.

use palisade_store::{StoredVerdict, VerdictClass, VerdictLookup};
use serde_json::json;

use crate::harness::{TestDb, both_backends};

/// A verdict for `event_id` in `room_id` of the given class.
pub(crate) fn verdict(room_id: &str, event_id: &str, class: VerdictClass) -> StoredVerdict {
    let harms = match class {
        VerdictClass::Prohibited => {
            vec!["org.matrix.msc4387.spam".to_owned(), "org.example.flood".to_owned()]
        }
        _ => vec![],
    };
    StoredVerdict {
        room_id: room_id.to_owned(),
        event_id: event_id.to_owned(),
        reference_hash: None,
        class,
        harms,
        expiry_ms: None,
        trace: json!([{"filter": "keyword", "class": class_name(class)}]).into(),
        decided_at_ms: 1_000,
    }
}

fn class_name(class: VerdictClass) -> &'static str {
    match class {
        VerdictClass::Neutral => "neutral",
        VerdictClass::Allowed => "allowed",
        VerdictClass::Prohibited => "prohibited",
    }
}

/// policyserv read every cached verdict back as spam (catalogue §11.1): each class must survive.
async fn each_class_round_trips_exactly(db: &TestDb) {
    let mut allowed = verdict("!r:x", "$allowed", VerdictClass::Allowed);
    allowed.expiry_ms = Some(99_000);
    allowed.reference_hash = Some("refhash".to_owned());
    let cases = [
        verdict("!r:x", "$neutral", VerdictClass::Neutral),
        allowed,
        verdict("!r:x", "$prohibited", VerdictClass::Prohibited),
    ];
    for case in &cases {
        let stored = db.store.insert_verdict_if_absent(case).await.unwrap();
        assert_eq!(&stored, case);
        let looked_up = db.store.get_verdict(&case.room_id, &case.event_id, None).await.unwrap();
        assert_eq!(looked_up, VerdictLookup::Found(case.clone()));
    }
    // Through a fresh handle too, so nothing comes from a cache.
    let other = db.reopen().await;
    for case in &cases {
        assert_eq!(
            other.get_verdict(&case.room_id, &case.event_id, None).await.unwrap(),
            VerdictLookup::Found(case.clone())
        );
    }
    other.close().await;
}

async fn first_verdict_wins(db: &TestDb) {
    let first = verdict("!r:x", "$e", VerdictClass::Prohibited);
    let second = verdict("!r:x", "$e", VerdictClass::Neutral);
    assert_eq!(db.store.insert_verdict_if_absent(&first).await.unwrap(), first);
    assert_eq!(db.store.insert_verdict_if_absent(&second).await.unwrap(), first, "a verdict never flips");
    assert_eq!(db.store.get_verdict("!r:x", "$e", None).await.unwrap(), VerdictLookup::Found(first));
}

async fn keyed_by_room_and_event(db: &TestDb) {
    let in_a = verdict("!a:x", "$same", VerdictClass::Prohibited);
    let in_b = verdict("!b:x", "$same", VerdictClass::Neutral);
    db.store.insert_verdict_if_absent(&in_a).await.unwrap();
    assert_eq!(db.store.insert_verdict_if_absent(&in_b).await.unwrap(), in_b);
    assert_eq!(db.store.get_verdict("!c:x", "$same", None).await.unwrap(), VerdictLookup::Absent);
}

async fn reference_hash_is_checked(db: &TestDb) {
    let mut v = verdict("!v1:x", "$chosen-by-sender", VerdictClass::Neutral);
    v.reference_hash = Some("hash-a".to_owned());
    db.store.insert_verdict_if_absent(&v).await.unwrap();
    let get = |hash: Option<&'static str>| db.store.get_verdict("!v1:x", "$chosen-by-sender", hash);
    assert_eq!(get(Some("hash-a")).await.unwrap(), VerdictLookup::Found(v.clone()));
    assert_eq!(get(Some("hash-b")).await.unwrap(), VerdictLookup::ReferenceMismatch(v.clone()));
    assert_eq!(get(None).await.unwrap(), VerdictLookup::Found(v));
}

async fn batch_answers_in_input_order(db: &TestDb) {
    let existing = verdict("!r:x", "$b", VerdictClass::Prohibited);
    db.store.insert_verdict_if_absent(&existing).await.unwrap();
    let batch = vec![
        verdict("!r:x", "$c", VerdictClass::Neutral),
        verdict("!r:x", "$b", VerdictClass::Neutral),
        verdict("!r:x", "$a", VerdictClass::Allowed),
        verdict("!r:x", "$c", VerdictClass::Prohibited),
    ];
    let stored = db.store.insert_verdicts_if_absent(&batch).await.unwrap();
    assert_eq!(stored, vec![batch[0].clone(), existing, batch[2].clone(), batch[0].clone()]);
}

/// More keys than one statement carries, with absent and repeated keys among them.
async fn many_keys_come_back_in_input_order(db: &TestDb) {
    let stored: Vec<StoredVerdict> =
        (0..300).map(|i| verdict("!r:x", &format!("$e{i}"), VerdictClass::Neutral)).collect();
    assert_eq!(db.store.insert_verdicts_if_absent(&stored).await.unwrap(), stored);
    let mut keys: Vec<(String, String)> =
        (0..600).rev().map(|i| ("!r:x".to_owned(), format!("$e{i}"))).collect();
    keys.push(("!other:x".to_owned(), "$e1".to_owned()));
    keys.push(("!r:x".to_owned(), "$e7".to_owned()));
    let borrowed: Vec<(&str, &str)> = keys.iter().map(|(r, e)| (r.as_str(), e.as_str())).collect();
    let found = db.store.get_verdicts(&borrowed).await.unwrap();
    assert_eq!(found.len(), keys.len());
    for ((room_id, event_id), found) in keys.iter().zip(&found) {
        let expected = stored.iter().find(|v| &v.room_id == room_id && &v.event_id == event_id);
        assert_eq!(found.as_ref(), expected, "{room_id} {event_id}");
    }
}

both_backends!(
    many_keys_come_back_in_input_order,
    each_class_round_trips_exactly,
    first_verdict_wins,
    keyed_by_room_and_event,
    reference_hash_is_checked,
    batch_answers_in_input_order
);
