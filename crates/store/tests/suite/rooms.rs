//! Rooms: upsert, listing, join state, overrides, deletion.

use palisade_store::{Community, JoinState, Room};
use serde_json::json;

use crate::harness::{TestDb, both_backends};

/// A joined room in `community_id`.
pub(crate) fn room(room_id: &str, community_id: &str) -> Room {
    Room {
        room_id: room_id.to_owned(),
        room_version: "12".to_owned(),
        community_id: community_id.to_owned(),
        join_state: JoinState::Joined,
        moderator_user_id: None,
        overrides: None,
        last_state_update_ms: 0,
    }
}

async fn put_get_list(db: &TestDb) {
    db.store.put_community(&Community::new("c1", "One")).await.unwrap();
    let mut a = room("!a:example.org", "default");
    a.moderator_user_id = Some("@mod:example.org".to_owned());
    a.overrides = Some(json!({"spam_threshold": 3}));
    let b = room("!b:example.org", "c1");
    db.store.put_room(&a).await.unwrap();
    db.store.put_room(&b).await.unwrap();

    assert_eq!(db.store.get_room("!a:example.org").await.unwrap(), Some(a.clone()));
    assert_eq!(db.store.get_room("!zzz:example.org").await.unwrap(), None);
    assert_eq!(db.store.list_rooms().await.unwrap(), vec![a.clone(), b.clone()]);
    assert_eq!(db.store.list_community_rooms("c1").await.unwrap(), vec![b.clone()]);
    assert_eq!(db.store.list_community_rooms("default").await.unwrap(), vec![a.clone()]);

    // Upsert moves the room to another community.
    let moved = Room { community_id: "c1".to_owned(), ..a };
    db.store.put_room(&moved).await.unwrap();
    assert_eq!(db.store.list_community_rooms("c1").await.unwrap().len(), 2);
}

async fn unknown_community_is_rejected(db: &TestDb) {
    assert!(db.store.put_room(&room("!a:example.org", "no-such-community")).await.is_err());
}

async fn join_state_overrides_and_delete(db: &TestDb) {
    db.store.put_room(&room("!a:example.org", "default")).await.unwrap();
    for state in [JoinState::Joining, JoinState::Leaving, JoinState::Left, JoinState::Joined] {
        assert!(db.store.set_room_join_state("!a:example.org", state).await.unwrap());
        assert_eq!(db.store.get_room("!a:example.org").await.unwrap().unwrap().join_state, state);
    }
    assert!(!db.store.set_room_join_state("!missing:x", JoinState::Left).await.unwrap());

    let overrides = json!({"keyword_filter_keywords": []});
    assert!(db.store.set_room_overrides("!a:example.org", Some(&overrides)).await.unwrap());
    assert_eq!(db.store.get_room("!a:example.org").await.unwrap().unwrap().overrides, Some(overrides));
    assert!(db.store.set_room_overrides("!a:example.org", None).await.unwrap());
    assert_eq!(db.store.get_room("!a:example.org").await.unwrap().unwrap().overrides, None);

    assert!(db.store.delete_room("!a:example.org").await.unwrap());
    assert!(!db.store.delete_room("!a:example.org").await.unwrap());
    assert_eq!(db.store.get_room("!a:example.org").await.unwrap(), None);
}

both_backends!(put_get_list, unknown_community_is_rejected, join_state_overrides_and_delete);
