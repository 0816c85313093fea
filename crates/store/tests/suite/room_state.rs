//! Room state snapshots: replace-per-key, whole-snapshot replacement, cascade on room deletion.

use palisade_store::StateEvent;
use serde_json::json;

use crate::harness::{TestDb, both_backends};
use crate::rooms::room;

/// A state event with a recognisable body.
fn state(event_type: &str, state_key: &str, event_id: &str) -> StateEvent {
    StateEvent {
        event_type: event_type.to_owned(),
        state_key: state_key.to_owned(),
        event_id: event_id.to_owned(),
        event: json!({"type": event_type, "state_key": state_key, "event_id": event_id, "content": {}}),
    }
}

async fn put_replaces_per_key(db: &TestDb) {
    db.store.put_room(&room("!r:x", "default")).await.unwrap();
    let pl1 = state("m.room.power_levels", "", "$pl1");
    let alice = state("m.room.member", "@alice:x", "$alice");
    db.store.put_state_events("!r:x", &[pl1, alice.clone()]).await.unwrap();
    let pl2 = state("m.room.power_levels", "", "$pl2");
    db.store.put_state_events("!r:x", std::slice::from_ref(&pl2)).await.unwrap();

    assert_eq!(db.store.get_state_event("!r:x", "m.room.power_levels", "").await.unwrap(), Some(pl2.clone()));
    assert_eq!(db.store.get_state_event("!r:x", "m.room.member", "@bob:x").await.unwrap(), None);
    assert_eq!(db.store.get_room_state("!r:x").await.unwrap(), vec![alice, pl2]);
}

async fn replace_room_state_is_whole_and_stamped(db: &TestDb) {
    db.store.put_room(&room("!r:x", "default")).await.unwrap();
    db.store.put_state_events("!r:x", &[state("m.room.member", "@old:x", "$old")]).await.unwrap();
    let fresh = vec![state("m.room.create", "", "$create"), state("m.room.member", "@new:x", "$new")];
    db.store.replace_room_state("!r:x", &fresh, 1_234).await.unwrap();
    assert_eq!(db.store.get_room_state("!r:x").await.unwrap(), fresh);
    assert_eq!(db.store.get_room("!r:x").await.unwrap().unwrap().last_state_update_ms, 1_234);
}

async fn state_of_unknown_room_is_rejected_and_deleted_with_room(db: &TestDb) {
    assert!(db.store.put_state_events("!nope:x", &[state("m.room.create", "", "$c")]).await.is_err());
    db.store.put_room(&room("!r:x", "default")).await.unwrap();
    db.store.put_state_events("!r:x", &[state("m.room.create", "", "$c")]).await.unwrap();
    db.store.delete_room("!r:x").await.unwrap();
    assert!(db.store.get_room_state("!r:x").await.unwrap().is_empty());
}

both_backends!(
    put_replaces_per_key,
    replace_room_state_is_whole_and_stamped,
    state_of_unknown_room_is_rejected_and_deleted_with_room
);
