//! Retention: old verdicts, media scans, transactions and filter state go; rooms and communities stay.

use palisade_store::{MediaScan, PruneReport, VerdictClass, VerdictLookup};
use serde_json::json;

use crate::harness::{TestDb, both_backends};
use crate::rooms::room;
use crate::verdicts::verdict;

fn scan(mxc: &str, at: i64) -> MediaScan {
    MediaScan {
        mxc_uri: mxc.to_owned(),
        community_id: "default".to_owned(),
        class: VerdictClass::Neutral,
        harms: vec![],
        scanned_at_ms: at,
    }
}

async fn prune_removes_only_old_expendable_rows(db: &TestDb) {
    let s = &db.store;
    let mut old = verdict("!r:x", "$old", VerdictClass::Prohibited);
    old.decided_at_ms = 100;
    let mut new = verdict("!r:x", "$new", VerdictClass::Neutral);
    new.decided_at_ms = 200;
    s.insert_verdicts_if_absent(&[old, new.clone()]).await.unwrap();
    s.put_media_scan(&scan("mxc://a/old", 100)).await.unwrap();
    s.put_media_scan(&scan("mxc://a/new", 200)).await.unwrap();
    s.put_txn_response("o.example", "old", &json!({}), 100).await.unwrap();
    s.put_txn_response("o.example", "new", &json!({}), 200).await.unwrap();
    s.hellban("default", "@expired:x", 100).await.unwrap();
    s.hellban("default", "@active:x", 10_000).await.unwrap();
    s.record_and_count("default", "ff", "@u:x", 100, 50).await.unwrap();
    s.put_room(&room("!r:x", "default")).await.unwrap();
    s.replace_room_state("!r:x", &[], 50).await.unwrap();

    let report = s.prune(150).await.unwrap();
    assert_eq!(
        report,
        PruneReport { verdicts: 1, media_scans: 1, federation_txns: 1, hellbans: 1, frequency_hits: 1 }
    );
    assert_eq!(s.get_verdict("!r:x", "$old", None).await.unwrap(), VerdictLookup::Absent);
    assert_eq!(s.get_verdict("!r:x", "$new", None).await.unwrap(), VerdictLookup::Found(new));
    assert!(s.get_media_scan("mxc://a/old", "default").await.unwrap().is_none());
    assert!(s.get_media_scan("mxc://a/new", "default").await.unwrap().is_some());
    assert!(s.get_txn_response("o.example", "old").await.unwrap().is_none());
    assert!(s.get_txn_response("o.example", "new").await.unwrap().is_some());
    assert_eq!(s.hellban_expiry("default", "@active:x", 150).await.unwrap(), Some(10_000));
    // Never pruned, however old.
    assert!(s.get_room("!r:x").await.unwrap().is_some());
    assert!(s.get_community("default").await.unwrap().is_some());

    assert_eq!(s.prune(150).await.unwrap(), PruneReport::default(), "idempotent");
}

both_backends!(prune_removes_only_old_expendable_rows);
