//! Communities: creation, upsert, config, hashed access tokens.

use palisade_store::{Community, hash_access_token};
use serde_json::json;

use crate::harness::{TestDb, both_backends};

async fn create_get_and_list(db: &TestDb) {
    let created = db.store.create_community("Example").await.unwrap();
    assert_eq!(created.id.len(), 27);
    assert_eq!(created.config, json!({}));
    assert!(!created.can_self_join_rooms);
    assert_eq!(db.store.get_community(&created.id).await.unwrap(), Some(created.clone()));
    let ids: Vec<String> = db.store.list_communities().await.unwrap().into_iter().map(|c| c.id).collect();
    assert!(ids.contains(&"default".to_owned()), "built-in default community: {ids:?}");
    assert!(ids.contains(&created.id));
    assert_eq!(db.store.get_community("nope").await.unwrap(), None);
}

async fn put_replaces_and_config_updates(db: &TestDb) {
    let mut community = Community::new("c1", "One");
    community.config = json!({"keyword_filter_keywords": ["spam"], "hellban_postfilter_minutes": 0});
    community.permissions = json!({"api": ["read"]});
    community.can_self_join_rooms = true;
    db.store.put_community(&community).await.unwrap();
    assert_eq!(db.store.get_community("c1").await.unwrap(), Some(community.clone()));

    community.name = "Renamed".to_owned();
    community.can_self_join_rooms = false;
    db.store.put_community(&community).await.unwrap();
    assert_eq!(db.store.get_community("c1").await.unwrap().unwrap().name, "Renamed");

    assert!(db.store.set_community_config("c1", &json!({"a": false})).await.unwrap());
    assert_eq!(db.store.get_community("c1").await.unwrap().unwrap().config, json!({"a": false}));
    assert!(!db.store.set_community_config("missing", &json!({})).await.unwrap());
}

async fn access_token_is_stored_hashed(db: &TestDb) {
    db.store.put_community(&Community::new("c1", "One")).await.unwrap();
    assert!(db.store.set_community_access_token("c1", Some("s3cret-token")).await.unwrap());

    let found = db.store.community_by_access_token("s3cret-token").await.unwrap();
    assert_eq!(found.map(|c| c.id), Some("c1".to_owned()));
    assert_eq!(db.store.community_by_access_token("wrong").await.unwrap(), None);
    // Knowing the stored hash must not authenticate.
    let hash = hash_access_token("s3cret-token");
    assert_eq!(db.store.community_by_access_token(&hash).await.unwrap(), None);

    let stored = db.query_texts("SELECT access_token_hash FROM communities WHERE community_id = 'c1'").await;
    assert_eq!(stored, vec![Some(hash)], "only the sha256 is stored");

    // Re-putting the community keeps its token; clearing removes it.
    db.store.put_community(&Community::new("c1", "Again")).await.unwrap();
    assert!(db.store.community_by_access_token("s3cret-token").await.unwrap().is_some());
    assert!(db.store.set_community_access_token("c1", None).await.unwrap());
    assert_eq!(db.store.community_by_access_token("s3cret-token").await.unwrap(), None);
    assert!(!db.store.set_community_access_token("missing", Some("x")).await.unwrap());
}

both_backends!(create_get_and_list, put_replaces_and_config_updates, access_token_is_stored_hashed);
