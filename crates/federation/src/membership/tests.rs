//! Joining and leaving through a fake resident server on loopback HTTPS that builds real signed events.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, put},
};
use palisade_matrix::{
    OwnedRoomId, OwnedServerName, OwnedUserId, Pdu, SigningKey, canonical_json,
    server_keys::signed_document,
    signing::{VerifyKeys, verify_event_signatures},
};
use serde_json::{Value, json};

use super::*;
use crate::{
    KeyringConfig, MemoryKeyCache, StaticResolver,
    room_state::fixtures::RoomFixture,
    test_support::{TestPki, client, client_key, closed_port, spawn_https, test_config},
};

/// Our user on the test client's server (`palisade.test`).
const OUR_USER: &str = "@policy:palisade.test";

/// The resident server's view of its room.
struct Resident {
    name: String,
    key: SigningKey,
    room: RoomFixture,
    state: Vec<Pdu>,
    /// A state event signed with the wrong key, served in the state to be dropped.
    forged: Value,
    /// Refuse make_join with 403.
    refuse: bool,
    /// Joins and leaves received, and whether our signature on them verified.
    received: Vec<(String, bool)>,
}

type Shared = Arc<Mutex<Resident>>;

fn resident_key() -> SigningKey {
    SigningKey::from_seed(&[21; 32], "res1").unwrap()
}

/// Starts a resident server for a public room of `version` created by `@admin:<name>`.
async fn start_resident(pki: &TestPki, version: &str) -> (Shared, OwnedServerName) {
    let port = closed_port().await;
    let name = format!("localhost:{port}");
    let admin = format!("@admin:{name}");
    let (mut room, create) = RoomFixture::create(version, &admin, &name, resident_key(), json!({}));
    let join = room.member(&admin, &admin, "join", json!({"displayname": "Admin"}));
    let levels = room.event("m.room.power_levels", Some(""), &admin, json!({"users": {&admin: 100}}));
    let rules = room.event("m.room.join_rules", Some(""), &admin, json!({"join_rule": "public"}));
    let policy = room.event(
        "m.policy.rule.user",
        Some("r1"),
        &admin,
        json!({"entity": "@spam:x", "recommendation": "m.ban"}),
    );
    let (mut other, _) = RoomFixture::create(
        version,
        &admin,
        &name,
        SigningKey::from_seed(&[99; 32], "res1").unwrap(),
        json!({}),
    );
    other.room_id = room.room_id.clone();
    // Signed with a key of the same ID that the resident does not publish: its hash is fine, its signature is not.
    let forged = other
        .event(
            "m.policy.rule.user",
            Some("forged"),
            &admin,
            json!({"entity": "@x:y", "recommendation": "m.ban"}),
        )
        .to_json_value();
    let resident = Resident {
        name: name.clone(),
        key: resident_key(),
        room,
        state: vec![create, join, levels, rules, policy],
        forged,
        refuse: false,
        received: Vec::new(),
    };
    let shared = Arc::new(Mutex::new(resident));
    let router = Router::new()
        .route("/_matrix/key/v2/server", get(key_document))
        .route("/_matrix/federation/v1/make_join/{room}/{user}", get(make_join))
        .route("/_matrix/federation/v2/send_join/{room}/{event}", put(send_join))
        .route("/_matrix/federation/v1/make_leave/{room}/{user}", get(make_leave))
        .route("/_matrix/federation/v2/send_leave/{room}/{event}", put(send_leave))
        .route("/_matrix/federation/v1/timestamp_to_event/{room}", get(timestamp_to_event))
        .route("/_matrix/federation/v1/state/{room}", get(state_at))
        .route("/_matrix/federation/v1/event/{event}", get(event_by_id))
        .with_state(shared.clone());
    spawn_https(pki, format!("127.0.0.1:{port}").parse().unwrap(), router).await;
    (shared, name.try_into().unwrap())
}

async fn key_document(State(resident): State<Shared>) -> Json<Value> {
    let resident = resident.lock().unwrap();
    Json(signed_document(&resident.name, &resident.key, &[], 4_000_000_000_000))
}

/// A membership template for `user` in the room, as a resident server would build it.
fn template(resident: &Resident, user: &str, membership: &str) -> Value {
    let last = resident.state.last().unwrap();
    let mut event = json!({
        "type": "m.room.member", "room_id": resident.room.room_id, "sender": user, "state_key": user,
        "content": {"membership": membership}, "depth": 100, "origin_server_ts": 0,
        "prev_events": [last.event_id().as_str()],
        "auth_events": [resident.state[0].event_id().as_str()],
    });
    if !resident.room.version.references_are_ids() {
        event["prev_events"] = json!([[last.event_id().as_str(), {"sha256": "x"}]]);
        event["auth_events"] = json!([]);
    }
    json!({"event": event, "room_version": resident.room.version.as_str()})
}

async fn make_join(
    State(resident): State<Shared>,
    Path((room, user)): Path<(String, String)>,
) -> (StatusCode, Json<Value>) {
    let resident = resident.lock().unwrap();
    if resident.refuse {
        return (StatusCode::FORBIDDEN, Json(json!({"errcode": "M_FORBIDDEN", "error": "not today"})));
    }
    assert_eq!(room, resident.room.room_id, "the room ID arrives decoded");
    (StatusCode::OK, Json(template(&resident, &user, "join")))
}

async fn make_leave(State(resident): State<Shared>, Path((_, user)): Path<(String, String)>) -> Json<Value> {
    Json(template(&resident.lock().unwrap(), &user, "leave"))
}

/// The room's latest event is the last state event the resident holds.
async fn timestamp_to_event(State(resident): State<Shared>) -> Json<Value> {
    let resident = resident.lock().unwrap();
    let last = resident.state.last().unwrap();
    Json(json!({"event_id": last.event_id().as_str(), "origin_server_ts": 0}))
}

/// The state before the latest event: everything but the last, plus the forged event (to be dropped).
async fn state_at(State(resident): State<Shared>) -> Json<Value> {
    let resident = resident.lock().unwrap();
    let (_, before) = resident.state.split_last().unwrap();
    let mut pdus: Vec<Value> = before.iter().map(Pdu::to_json_value).collect();
    pdus.push(resident.forged.clone());
    Json(json!({"pdus": pdus, "auth_chain": []}))
}

async fn event_by_id(
    State(resident): State<Shared>,
    Path(event_id): Path<String>,
) -> (StatusCode, Json<Value>) {
    let resident = resident.lock().unwrap();
    match resident.state.iter().find(|pdu| pdu.event_id().as_str() == event_id) {
        Some(pdu) => (StatusCode::OK, Json(json!({"origin": resident.name, "pdus": [pdu.to_json_value()]}))),
        None => (StatusCode::NOT_FOUND, Json(json!({"errcode": "M_NOT_FOUND", "error": "no such event"}))),
    }
}

/// Checks our event is a valid PDU signed by our key, and records it.
fn receive(resident: &mut Resident, event_id: &str, body: Value) -> Option<Pdu> {
    let object = canonical_json::from_value(body).ok()?;
    let pdu = Pdu::from_object(object, &resident.room.version).ok()?;
    let mut keys = VerifyKeys::new();
    keys.insert("palisade.test", &client_key().key_id(), &client_key().public_key());
    let signed = verify_event_signatures(&pdu, &keys).is_ok() && pdu.event_id().as_str() == event_id;
    resident.received.push((pdu.content()["membership"].as_str().unwrap_or_default().to_owned(), signed));
    Some(pdu)
}

async fn send_join(
    State(resident): State<Shared>,
    Path((_, event_id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut resident = resident.lock().unwrap();
    let Some(pdu) = receive(&mut resident, &event_id, body) else { return Json(json!({})) };
    let mut state: Vec<Value> = resident.state.iter().map(Pdu::to_json_value).collect();
    state.push(resident.forged.clone());
    state.push(json!({"type": "not a pdu"}));
    let auth_chain: Vec<Value> = resident.state[..3].iter().map(Pdu::to_json_value).collect();
    Json(json!({"state": state, "auth_chain": auth_chain, "event": pdu.to_json_value(),
        "members_omitted": false, "servers_in_room": [resident.name]}))
}

async fn send_leave(
    State(resident): State<Shared>,
    Path((_, event_id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Json<Value> {
    receive(&mut resident.lock().unwrap(), &event_id, body);
    Json(json!({}))
}

/// Our side: a client for `palisade.test`, a keyring, a fresh store.
async fn membership(pki: &TestPki) -> (Membership, Arc<dyn Store>) {
    let resolver = StaticResolver::new().with_host("localhost", IpAddr::V4(Ipv4Addr::LOCALHOST));
    let client = Arc::new(client(resolver, test_config(pki, closed_port().await)));
    let keyring =
        Arc::new(Keyring::new(client.clone(), Arc::new(MemoryKeyCache::new()), KeyringConfig::default()));
    let store = palisade_store::open("sqlite::memory:").await.unwrap();
    (Membership::new(client, keyring, store.clone(), client_key()), store)
}

fn ids(resident: &Shared) -> (OwnedRoomId, OwnedUserId) {
    let room_id = resident.lock().unwrap().room.room_id.clone();
    (room_id.try_into().unwrap(), OUR_USER.try_into().unwrap())
}

async fn membership_of(store: &Arc<dyn Store>, room_id: &OwnedRoomId, user: &str) -> Option<String> {
    let event = store.get_state_event(room_id.as_str(), "m.room.member", user).await.unwrap()?;
    event.event["content"]["membership"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn joins_v12_room_after_an_unreachable_server() {
    let pki = TestPki::new();
    let (resident, name) = start_resident(&pki, "12").await;
    let (membership, store) = membership(&pki).await;
    let (room_id, user) = ids(&resident);
    let dead: OwnedServerName = format!("localhost:{}", closed_port().await).try_into().unwrap();

    let outcome = membership.join_room(&room_id, &[dead.clone(), name.clone()], &user).await;
    let JoinOutcome::Joined { via, room_version, event_id, state_stored, dropped } = outcome else {
        panic!("not joined: {outcome:?}");
    };
    assert_eq!((via, room_version.as_str()), (name, "12"));
    assert_eq!(state_stored, 6, "create, admin, power levels, join rules, rule r1, our join");
    assert_eq!(dropped, 2, "the forged rule and the non-PDU are dropped");
    assert_eq!(resident.lock().unwrap().received, vec![("join".to_owned(), true)]);

    let room = store.get_room(room_id.as_str()).await.unwrap().unwrap();
    assert_eq!(
        (room.join_state, room.room_version.as_str(), room.community_id.as_str()),
        (JoinState::Joined, "12", "default")
    );
    let ours = store.get_state_event(room_id.as_str(), "m.room.member", OUR_USER).await.unwrap().unwrap();
    assert_eq!(ours.event_id, event_id);
    assert!(store.get_state_event(room_id.as_str(), "m.policy.rule.user", "r1").await.unwrap().is_some());
    assert!(store.get_state_event(room_id.as_str(), "m.policy.rule.user", "forged").await.unwrap().is_none());
}

#[tokio::test]
async fn leaves_and_rejoins() {
    let pki = TestPki::new();
    let (resident, name) = start_resident(&pki, "10").await;
    let (membership, store) = membership(&pki).await;
    let (room_id, user) = ids(&resident);
    assert!(matches!(
        membership.join_room(&room_id, std::slice::from_ref(&name), &user).await,
        JoinOutcome::Joined { .. }
    ));

    let outcome = membership.leave_room(&room_id, std::slice::from_ref(&name), &user).await;
    assert!(matches!(outcome, LeaveOutcome::Left { .. }), "{outcome:?}");
    assert_eq!(store.get_room(room_id.as_str()).await.unwrap().unwrap().join_state, JoinState::Left);
    assert_eq!(membership_of(&store, &room_id, OUR_USER).await.as_deref(), Some("leave"));

    assert!(matches!(
        membership.join_room(&room_id, std::slice::from_ref(&name), &user).await,
        JoinOutcome::Joined { .. }
    ));
    assert_eq!(store.get_room(room_id.as_str()).await.unwrap().unwrap().join_state, JoinState::Joined);
    assert_eq!(membership_of(&store, &room_id, OUR_USER).await.as_deref(), Some("join"));
    let received: Vec<_> = resident.lock().unwrap().received.clone();
    assert_eq!(received, vec![("join".into(), true), ("leave".into(), true), ("join".into(), true)]);
}

#[tokio::test]
async fn joins_v1_room_with_our_own_event_id() {
    let pki = TestPki::new();
    let (resident, name) = start_resident(&pki, "1").await;
    let (membership, _store) = membership(&pki).await;
    let (room_id, user) = ids(&resident);
    let outcome = membership.join_room(&room_id, &[name], &user).await;
    let JoinOutcome::Joined { event_id, .. } = outcome else { panic!("not joined: {outcome:?}") };
    assert!(event_id.ends_with(":palisade.test"), "{event_id}");
}

#[tokio::test]
async fn reports_each_server_failure() {
    let pki = TestPki::new();
    let (resident, name) = start_resident(&pki, "11").await;
    resident.lock().unwrap().refuse = true;
    let (membership, store) = membership(&pki).await;
    let (room_id, user) = ids(&resident);
    let dead: OwnedServerName = format!("localhost:{}", closed_port().await).try_into().unwrap();
    let outcome = membership.join_room(&room_id, &[name.clone(), dead.clone()], &user).await;
    let JoinOutcome::Failed { per_server_errors } = outcome else { panic!("joined: {outcome:?}") };
    assert_eq!(per_server_errors.len(), 2);
    assert_eq!(per_server_errors[0].0, name);
    assert!(
        matches!(&per_server_errors[0].1, MembershipError::Make(reason) if reason.contains("M_FORBIDDEN"))
    );
    assert_eq!(per_server_errors[1].0, dead);
    assert!(store.get_room(room_id.as_str()).await.unwrap().is_none(), "nothing stored");
    let nobody = membership.leave_room(&room_id, &[], &user).await;
    assert_eq!(nobody, LeaveOutcome::Failed { per_server_errors: vec![] });
}

#[tokio::test]
async fn a_received_kick_marks_the_room_left_and_a_rejoin_works() {
    let pki = TestPki::new();
    let (resident, name) = start_resident(&pki, "12").await;
    let (membership, store) = membership(&pki).await;
    let (room_id, user) = ids(&resident);
    let joined =
        membership.join_room_into(&room_id, std::slice::from_ref(&name), &user, Some("default")).await;
    assert!(matches!(joined, JoinOutcome::Joined { .. }), "{joined:?}");

    // The resident's admin changes the topic, then kicks us; both arrive as `/send` PDUs.
    let (topic, kick) = {
        let mut resident = resident.lock().unwrap();
        let admin = format!("@admin:{}", resident.name);
        let topic = resident.room.event("m.room.topic", Some(""), &admin, json!({"topic": "t"}));
        // Deeper than our join (the fake's templates are at depth 100).
        let kick = resident.room.event_at(
            101,
            "m.room.member",
            Some(OUR_USER),
            &admin,
            json!({"membership": "leave", "reason": "bye"}),
        );
        (topic, kick)
    };
    let report = membership.apply_received(room_id.as_str(), &[topic], &user).await.unwrap();
    assert_eq!(report.applied.len(), 1, "{report:?}");
    assert_eq!(store.get_room(room_id.as_str()).await.unwrap().unwrap().join_state, JoinState::Joined);
    let report = membership.apply_received(room_id.as_str(), &[kick], &user).await.unwrap();
    assert_eq!(report.applied.len(), 1, "{report:?}");
    assert_eq!(store.get_room(room_id.as_str()).await.unwrap().unwrap().join_state, JoinState::Left);
    assert_eq!(membership_of(&store, &room_id, OUR_USER).await.as_deref(), Some("leave"));

    // policyserv could not rejoin a room it was kicked from (its #90); the same path works here.
    let rejoined = membership.join_room(&room_id, std::slice::from_ref(&name), &user).await;
    assert!(matches!(rejoined, JoinOutcome::Joined { .. }), "{rejoined:?}");
    assert_eq!(store.get_room(room_id.as_str()).await.unwrap().unwrap().join_state, JoinState::Joined);
    assert_eq!(membership_of(&store, &room_id, OUR_USER).await.as_deref(), Some("join"));
}

#[tokio::test]
async fn resync_replaces_the_snapshot_with_the_residents_current_state() {
    let pki = TestPki::new();
    let (resident, name) = start_resident(&pki, "12").await;
    let (membership, store) = membership(&pki).await;
    let (room_id, user) = ids(&resident);
    let joined = membership.join_room(&room_id, std::slice::from_ref(&name), &user).await;
    assert!(matches!(joined, JoinOutcome::Joined { .. }), "{joined:?}");

    // While we were away: the resident has our join, and its admin set a topic (the room's latest event).
    let ours = store.get_state_event(room_id.as_str(), "m.room.member", OUR_USER).await.unwrap().unwrap();
    {
        let mut resident = resident.lock().unwrap();
        let version = resident.room.version.clone();
        let our_join = Pdu::from_object(canonical_json::from_value(ours.event).unwrap(), &version).unwrap();
        resident.state.push(our_join);
        let admin = format!("@admin:{}", resident.name);
        let topic = resident.room.event_at(150, "m.room.topic", Some(""), &admin, json!({"topic": "missed"}));
        resident.state.push(topic);
    }
    let outcome = membership.resync_room(&room_id, std::slice::from_ref(&name), &user).await;
    let ResyncOutcome::Resynced { via, state_stored, dropped, still_joined, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((via, dropped, still_joined), (name.clone(), 1, true));
    assert_eq!(state_stored, 7, "create, admin, power levels, join rules, rule r1, our join, topic");
    let topic = store.get_state_event(room_id.as_str(), "m.room.topic", "").await.unwrap().unwrap();
    assert_eq!(topic.event["content"]["topic"], "missed");
    assert_eq!(store.get_room(room_id.as_str()).await.unwrap().unwrap().join_state, JoinState::Joined);

    // Kicked while away: the resident's state has us as "leave"; the room is marked left.
    {
        let mut resident = resident.lock().unwrap();
        let admin = format!("@admin:{}", resident.name);
        let kick = resident.room.event_at(
            160,
            "m.room.member",
            Some(OUR_USER),
            &admin,
            json!({"membership": "leave"}),
        );
        resident.state.retain(|pdu| pdu.state_key() != Some(OUR_USER));
        resident.state.push(kick);
    }
    let outcome = membership.resync_room(&room_id, std::slice::from_ref(&name), &user).await;
    assert!(matches!(outcome, ResyncOutcome::Resynced { still_joined: false, .. }), "{outcome:?}");
    assert_eq!(store.get_room(room_id.as_str()).await.unwrap().unwrap().join_state, JoinState::Left);

    // A room we never joined cannot be resynced.
    let unknown: OwnedRoomId = "!unknown:palisade.test".try_into().unwrap();
    let outcome = membership.resync_room(&unknown, &[name], &user).await;
    let ResyncOutcome::Failed { per_server_errors } = outcome else { panic!("{outcome:?}") };
    assert!(
        matches!(&per_server_errors[0].1, MembershipError::Resync(reason) if reason.contains("not stored"))
    );
}
