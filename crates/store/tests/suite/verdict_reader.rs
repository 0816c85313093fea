//! Batched verdict lookups: many keys per query, each caller its own answer, in order.

use std::sync::Arc;

use palisade_store::{ReadBatch, StoredVerdict, VerdictClass, VerdictLookup, VerdictReader};

use crate::harness::{TestDb, both_backends};
use crate::verdicts::verdict;

fn numbered(range: std::ops::Range<usize>) -> Vec<StoredVerdict> {
    range.map(|i| verdict("!r:x", &format!("$e{i}"), VerdictClass::Neutral)).collect()
}

/// More keys than one statement carries, with absent and repeated keys among them.
async fn many_keys_come_back_in_input_order(db: &TestDb) {
    let stored = numbered(0..300);
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

async fn concurrent_lookups_each_get_their_own_verdict(db: &TestDb) {
    let stored = numbered(0..50);
    db.store.insert_verdicts_if_absent(&stored).await.unwrap();
    let reader =
        VerdictReader::spawn(Arc::clone(&db.store), ReadBatch { max_batch: 8, parallel: 1, queue: 16 });
    let lookups: Vec<_> = (0..100)
        .map(|i| {
            let reader = reader.clone();
            tokio::spawn(async move { reader.get("!r:x", &format!("$e{i}"), None).await.unwrap() })
        })
        .collect();
    for (i, lookup) in lookups.into_iter().enumerate() {
        match lookup.await.unwrap() {
            VerdictLookup::Found(found) if i < 50 => assert_eq!(found, stored[i]),
            VerdictLookup::Absent if i >= 50 => {}
            other => panic!("lookup {i} gave {other:?}"),
        }
    }
}

async fn a_reused_event_id_is_a_mismatch_through_the_reader(db: &TestDb) {
    let mut v1 = verdict("!r:x", "$reused", VerdictClass::Neutral);
    v1.reference_hash = Some("hash-a".to_owned());
    db.store.insert_verdict_if_absent(&v1).await.unwrap();
    let reader = VerdictReader::spawn(Arc::clone(&db.store), ReadBatch::default());
    assert_eq!(
        reader.get("!r:x", "$reused", Some("hash-b")).await.unwrap(),
        VerdictLookup::ReferenceMismatch(v1.clone())
    );
    assert_eq!(reader.get("!r:x", "$reused", Some("hash-a")).await.unwrap(), VerdictLookup::Found(v1));
}

both_backends!(
    many_keys_come_back_in_input_order,
    concurrent_lookups_each_get_their_own_verdict,
    a_reused_event_id_is_a_mismatch_through_the_reader
);
