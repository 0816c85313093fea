//! Server signing keys, keyword templates and trust data.

use palisade_store::ServerKey;
use serde_json::json;

use crate::harness::{TestDb, both_backends};

fn key(key_id: &str, valid_until_ts: i64, expired_ts: Option<i64>) -> ServerKey {
    ServerKey {
        server_name: "remote.example".to_owned(),
        key_id: key_id.to_owned(),
        public_key: format!("pub-{key_id}"),
        valid_until_ts,
        expired_ts,
    }
}

async fn server_keys_never_regress(db: &TestDb) {
    db.store.put_server_key(&key("ed25519:b", 5_000, None)).await.unwrap();
    db.store.put_server_key(&key("ed25519:a", 1_000, Some(900))).await.unwrap();
    assert_eq!(
        db.store.get_server_keys("remote.example").await.unwrap(),
        vec![key("ed25519:a", 1_000, Some(900)), key("ed25519:b", 5_000, None)]
    );
    // A stale notary answer cannot shorten validity, and an old key stays expired.
    db.store.put_server_key(&key("ed25519:b", 2_000, None)).await.unwrap();
    db.store.put_server_key(&key("ed25519:a", 1_500, None)).await.unwrap();
    assert_eq!(
        db.store.get_server_key("remote.example", "ed25519:b").await.unwrap(),
        Some(key("ed25519:b", 5_000, None))
    );
    assert_eq!(
        db.store.get_server_key("remote.example", "ed25519:a").await.unwrap(),
        Some(key("ed25519:a", 1_500, Some(900)))
    );
    // A fresher answer extends validity; expiry is recorded when first reported.
    db.store.put_server_key(&key("ed25519:b", 9_000, Some(8_000))).await.unwrap();
    assert_eq!(
        db.store.get_server_key("remote.example", "ed25519:b").await.unwrap(),
        Some(key("ed25519:b", 9_000, Some(8_000)))
    );
    assert_eq!(db.store.get_server_key("other.example", "ed25519:b").await.unwrap(), None);
    assert!(db.store.get_server_keys("other.example").await.unwrap().is_empty());
}

async fn keyword_templates_crud(db: &TestDb) {
    assert_eq!(db.store.get_keyword_template("t1").await.unwrap(), None);
    db.store.put_keyword_template("t1", "{{ range .Words }}{{ end }}").await.unwrap();
    db.store.put_keyword_template("t0", "zero").await.unwrap();
    db.store.put_keyword_template("t1", "replaced").await.unwrap();
    assert_eq!(db.store.get_keyword_template("t1").await.unwrap().as_deref(), Some("replaced"));
    assert_eq!(
        db.store.list_keyword_templates().await.unwrap(),
        vec![("t0".to_owned(), "zero".to_owned()), ("t1".to_owned(), "replaced".to_owned())]
    );
    assert!(db.store.delete_keyword_template("t1").await.unwrap());
    assert!(!db.store.delete_keyword_template("t1").await.unwrap());
    assert_eq!(db.store.get_keyword_template("t1").await.unwrap(), None);
}

async fn trust_data_crud(db: &TestDb) {
    assert_eq!(db.store.get_trust_data("muninn_hall", "").await.unwrap(), None);
    let servers = json!({"server_names": ["a.example", "b.example"]});
    db.store.put_trust_data("muninn_hall", "", &servers).await.unwrap();
    db.store.put_trust_data("power_levels", "!r:x", &json!({"users": {"@a:x": 100}})).await.unwrap();
    assert_eq!(db.store.get_trust_data("muninn_hall", "").await.unwrap(), Some(servers));
    db.store.put_trust_data("muninn_hall", "", &json!({"server_names": []})).await.unwrap();
    assert_eq!(db.store.get_trust_data("muninn_hall", "").await.unwrap(), Some(json!({"server_names": []})));
    assert_eq!(db.store.get_trust_data("power_levels", "!other:x").await.unwrap(), None);
    assert_eq!(db.store.get_trust_data("creator", "!r:x").await.unwrap(), None);
    assert!(db.store.delete_trust_data("power_levels", "!r:x").await.unwrap());
    assert!(!db.store.delete_trust_data("power_levels", "!r:x").await.unwrap());
}

both_backends!(server_keys_never_regress, keyword_templates_crud, trust_data_crud);
