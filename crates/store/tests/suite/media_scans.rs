//! Media scan results per (mxc, community).

use palisade_store::{Community, MediaScan, VerdictClass};

use crate::harness::{TestDb, both_backends};

fn scan(community_id: &str, class: VerdictClass, harms: &[&str], at: i64) -> MediaScan {
    MediaScan {
        mxc_uri: "mxc://media.example/abc".to_owned(),
        community_id: community_id.to_owned(),
        class,
        harms: harms.iter().map(|h| (*h).to_owned()).collect(),
        scanned_at_ms: at,
    }
}

async fn per_community_results_round_trip(db: &TestDb) {
    db.store.put_community(&Community::new("c1", "One")).await.unwrap();
    let default_scan = scan("default", VerdictClass::Prohibited, &["org.matrix.msc4387.csam"], 10);
    let c1_scan = scan("c1", VerdictClass::Neutral, &[], 20);
    db.store.put_media_scan(&default_scan).await.unwrap();
    db.store.put_media_scan(&c1_scan).await.unwrap();
    let get = |community: &'static str| db.store.get_media_scan("mxc://media.example/abc", community);
    assert_eq!(get("default").await.unwrap(), Some(default_scan));
    assert_eq!(get("c1").await.unwrap(), Some(c1_scan));

    let rescanned = scan("default", VerdictClass::Allowed, &[], 30);
    db.store.put_media_scan(&rescanned).await.unwrap();
    assert_eq!(get("default").await.unwrap(), Some(rescanned));
    assert_eq!(db.store.get_media_scan("mxc://media.example/other", "c1").await.unwrap(), None);
}

async fn scan_for_unknown_community_is_rejected(db: &TestDb) {
    assert!(db.store.put_media_scan(&scan("ghost", VerdictClass::Neutral, &[], 1)).await.is_err());
}

both_backends!(per_community_results_round_trip, scan_for_unknown_community_is_rejected);
