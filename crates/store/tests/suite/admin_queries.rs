//! Operator-API queries: deleting communities, verdicts by event ID, paged decision lists, per-harm counts.

use palisade_store::{VerdictClass, VerdictCount, VerdictCursor, VerdictQuery};

use crate::harness::{TestDb, both_backends};
use crate::rooms::room;
use crate::verdicts::verdict;

async fn delete_community_only_without_rooms(db: &TestDb) {
    let community = db.store.create_community("to delete").await.unwrap();
    db.store.put_room(&room("!a:example.org", &community.id)).await.unwrap();
    assert!(!db.store.delete_community(&community.id).await.unwrap(), "a community with rooms is kept");
    assert!(db.store.get_community(&community.id).await.unwrap().is_some());
    assert!(db.store.delete_room("!a:example.org").await.unwrap());
    assert!(db.store.delete_community(&community.id).await.unwrap());
    assert!(db.store.get_community(&community.id).await.unwrap().is_none());
    assert!(!db.store.delete_community(&community.id).await.unwrap());
}

/// Two communities; verdicts at times 1..=6 spread over their rooms.
async fn seed(db: &TestDb) -> String {
    let community = db.store.create_community("listed").await.unwrap();
    db.store.put_room(&room("!a:example.org", &community.id)).await.unwrap();
    db.store.put_room(&room("!b:example.org", &community.id)).await.unwrap();
    db.store.put_room(&room("!other:example.org", "default")).await.unwrap();
    let mut all = Vec::new();
    for (at, room_id, event_id, class) in [
        (1, "!a:example.org", "$1", VerdictClass::Neutral),
        (2, "!a:example.org", "$2", VerdictClass::Prohibited),
        (3, "!b:example.org", "$3", VerdictClass::Prohibited),
        (3, "!a:example.org", "$3", VerdictClass::Allowed),
        (5, "!b:example.org", "$5", VerdictClass::Neutral),
        (6, "!other:example.org", "$6", VerdictClass::Prohibited),
    ] {
        let mut v = verdict(room_id, event_id, class);
        v.decided_at_ms = at;
        all.push(v);
    }
    db.store.insert_verdicts_if_absent(&all).await.unwrap();
    community.id
}

fn keys(verdicts: &[palisade_store::StoredVerdict]) -> Vec<(String, String)> {
    verdicts.iter().map(|v| (v.room_id.clone(), v.event_id.clone())).collect()
}

fn key(room: &str, event: &str) -> (String, String) {
    (room.to_owned(), event.to_owned())
}

async fn verdicts_by_event_id_in_every_room(db: &TestDb) {
    seed(db).await;
    let found = db.store.verdicts_for_event("$3").await.unwrap();
    assert_eq!(keys(&found), [key("!a:example.org", "$3"), key("!b:example.org", "$3")]);
    assert_eq!(found[0].class, VerdictClass::Allowed);
    assert!(db.store.verdicts_for_event("$missing").await.unwrap().is_empty());
}

async fn list_pages_newest_first_with_filters(db: &TestDb) {
    let community_id = seed(db).await;
    let query = VerdictQuery { community_id: community_id.clone(), limit: 2, ..Default::default() };
    let first = db.store.list_verdicts(&query).await.unwrap();
    assert_eq!(keys(&first), [key("!b:example.org", "$5"), key("!b:example.org", "$3")]);
    let last = &first[1];
    let cursor = VerdictCursor {
        decided_at_ms: last.decided_at_ms,
        room_id: last.room_id.clone(),
        event_id: last.event_id.clone(),
    };
    let second =
        db.store.list_verdicts(&VerdictQuery { before: Some(cursor), ..query.clone() }).await.unwrap();
    assert_eq!(keys(&second), [key("!a:example.org", "$3"), key("!a:example.org", "$2")]);

    let refused = VerdictQuery { prohibited_only: true, limit: 10, ..query.clone() };
    assert_eq!(
        keys(&db.store.list_verdicts(&refused).await.unwrap()),
        [key("!b:example.org", "$3"), key("!a:example.org", "$2")]
    );
    let one_room = VerdictQuery { room_id: Some("!a:example.org".to_owned()), limit: 10, ..query.clone() };
    assert_eq!(
        keys(&db.store.list_verdicts(&one_room).await.unwrap()),
        [key("!a:example.org", "$3"), key("!a:example.org", "$2"), key("!a:example.org", "$1")]
    );
    let other = VerdictQuery { community_id: "default".to_owned(), limit: 10, ..Default::default() };
    assert_eq!(keys(&db.store.list_verdicts(&other).await.unwrap()), [key("!other:example.org", "$6")]);
}

async fn counts_per_class_and_harms_in_a_window(db: &TestDb) {
    let community_id = seed(db).await;
    let mut counts = db.store.count_verdicts(&community_id, 2, 6).await.unwrap();
    counts.sort_by_key(|c| c.class.as_str());
    let harms = verdict("!x:y", "$x", VerdictClass::Prohibited).harms;
    assert_eq!(
        counts,
        [
            VerdictCount { class: VerdictClass::Allowed, harms: vec![], count: 1 },
            VerdictCount { class: VerdictClass::Neutral, harms: vec![], count: 1 },
            VerdictCount { class: VerdictClass::Prohibited, harms, count: 2 },
        ]
    );
    assert!(db.store.count_verdicts(&community_id, 100, 200).await.unwrap().is_empty());
}

both_backends!(
    delete_community_only_without_rooms,
    verdicts_by_event_id_in_every_room,
    list_pages_newest_first_with_filters,
    counts_per_class_and_harms_in_a_window,
);
