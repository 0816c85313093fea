//! Palisade joins, is kicked from, rejoins and leaves a room on a real Synapse 1.163.2 (the loopback test bed of
//! `tests/interop`), through `Membership` and the outbound federation client.

mod key_server;
mod testbed;

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    time::Duration,
};

use palisade_federation::{
    FederationClient, FederationConfig, Keyring, KeyringConfig, MemoryKeyCache, NetworkPolicy,
    StaticResolver,
    membership::{JoinOutcome, LeaveOutcome, Membership},
};
use palisade_matrix::{OwnedRoomId, OwnedServerName, OwnedUserId, SigningKey};
use palisade_store::{JoinState, Store};
use serde_json::{Value, json};
use testbed::Testbed;

/// A client-API call to hs1 as its admin.
async fn client_api(bed: &Testbed, method: reqwest::Method, path: &str, body: Value) -> Value {
    let url = format!("{}{path}", bed.str("/synapses/hs1/client_url"));
    let token = bed.str("/synapses/hs1/users/admin/access_token");
    let mut request = reqwest::Client::new().request(method, url).bearer_auth(token);
    if !body.is_null() {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response = request.send().await.expect("hs1 answers");
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// hs1's view of `user`'s membership.
async fn membership_on_hs1(bed: &Testbed, room_id: &str, user: &str) -> String {
    let path = format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{user}");
    let content = client_api(bed, reqwest::Method::GET, &path, Value::Null).await;
    content["membership"].as_str().unwrap_or_default().to_owned()
}

async fn stored_membership(store: &Arc<dyn Store>, room_id: &str, user: &str) -> Option<String> {
    let event = store.get_state_event(room_id, "m.room.member", user).await.expect("store reads")?;
    event.event["content"]["membership"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_kicked_rejoins_and_leaves_a_synapse_room() {
    let bed = Testbed::start();
    let our_name = bed.str("/reserved/palisade/server_name");
    let port =
        u16::try_from(bed.info.pointer("/reserved/palisade/port").and_then(Value::as_u64).unwrap()).unwrap();
    let key = Arc::new(SigningKey::generate("pal1").unwrap());
    key_server::start(
        port,
        &our_name,
        &key,
        bed.str("/reserved/palisade/cert").as_ref(),
        bed.str("/reserved/palisade/key").as_ref(),
    )
    .await;

    let config = FederationConfig {
        network_policy: NetworkPolicy::from_cidrs(["127.0.0.1/32", "::1/128"], Vec::<&str>::new()).unwrap(),
        extra_ca_files: vec![bed.str("/ca_cert").into()],
        request_timeout: Duration::from_secs(30),
        ..FederationConfig::default()
    };
    let resolver = StaticResolver::new().with_host("localhost", IpAddr::V4(Ipv4Addr::LOCALHOST));
    let client = Arc::new(
        FederationClient::new(our_name.as_str().try_into().unwrap(), key.clone(), Arc::new(resolver), config)
            .unwrap(),
    );
    let keyring =
        Arc::new(Keyring::new(client.clone(), Arc::new(MemoryKeyCache::new()), KeyringConfig::default()));
    let store = palisade_store::open("sqlite::memory:").await.unwrap();
    let membership = Membership::new(client, keyring, store.clone(), key);

    let created = client_api(
        &bed,
        reqwest::Method::POST,
        "/_matrix/client/v3/createRoom",
        json!({"preset": "public_chat"}),
    )
    .await;
    let room_id: OwnedRoomId = created["room_id"].as_str().unwrap().try_into().unwrap();
    let hs1: OwnedServerName = bed.str("/synapses/hs1/server_name").as_str().try_into().unwrap();
    let user: OwnedUserId = format!("@policy:{our_name}").as_str().try_into().unwrap();

    // Join.
    let outcome = membership.join_room(&room_id, std::slice::from_ref(&hs1), &user).await;
    let JoinOutcome::Joined { room_version, dropped, state_stored, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((room_version.as_str(), *dropped), ("12", 0));
    assert!(*state_stored >= 5, "create, power levels, join rules, admin and us: {outcome:?}");
    assert_eq!(membership_on_hs1(&bed, room_id.as_str(), user.as_str()).await, "join");
    let admin = bed.str("/synapses/hs1/users/admin/user_id");
    assert_eq!(stored_membership(&store, room_id.as_str(), &admin).await.as_deref(), Some("join"));
    let rules = store.get_state_event(room_id.as_str(), "m.room.join_rules", "").await.unwrap().unwrap();
    assert_eq!(rules.event["content"]["join_rule"], "public");
    assert!(store.get_state_event(room_id.as_str(), "m.room.create", "").await.unwrap().is_some());

    // Kicked by the admin, then rejoin through the same path.
    let kick = format!("/_matrix/client/v3/rooms/{room_id}/kick");
    client_api(&bed, reqwest::Method::POST, &kick, json!({"user_id": user.as_str(), "reason": "test"})).await;
    assert_eq!(membership_on_hs1(&bed, room_id.as_str(), user.as_str()).await, "leave");
    let outcome = membership.join_room(&room_id, std::slice::from_ref(&hs1), &user).await;
    assert!(matches!(outcome, JoinOutcome::Joined { .. }), "{outcome:?}");
    assert_eq!(membership_on_hs1(&bed, room_id.as_str(), user.as_str()).await, "join");

    // Leave.
    let outcome = membership.leave_room(&room_id, std::slice::from_ref(&hs1), &user).await;
    assert!(matches!(outcome, LeaveOutcome::Left { .. }), "{outcome:?}");
    assert_eq!(membership_on_hs1(&bed, room_id.as_str(), user.as_str()).await, "leave");
    assert_eq!(store.get_room(room_id.as_str()).await.unwrap().unwrap().join_state, JoinState::Left);
    assert_eq!(stored_membership(&store, room_id.as_str(), user.as_str()).await.as_deref(), Some("leave"));
}
