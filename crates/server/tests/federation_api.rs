//! The inbound federation API end to end through the real router: X-Matrix signed requests built with
//! `palisade_matrix`, an in-memory SQLite store, and a remote server whose key is already in the key cache (so no
//! network is touched).

#![allow(clippy::unwrap_used)] // test helpers panic on broken fixtures by design

use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use http::{Request, StatusCode, header};
use palisade_federation::{
    FederationClient, FederationConfig, Keyring, KeyringConfig, StaticResolver, StoreKeyCache,
    membership::Membership,
};
use palisade_matrix::{
    CanonicalObject, OwnedServerName, Pdu, RoomPolicy, RoomVersion, SigningKey, canonical_json,
    signing::{VerifyKeys, hash_and_sign_event, verify_event_signatures},
    x_matrix::{RequestTarget, sign_request},
};
use palisade_server::{
    config::AcceptInvites,
    federation_setup::Federation,
    http::{
        AppState, Services,
        federation::{InboundFederation, InboundSettings, PduSink},
        router,
    },
    key_files::ServerKeyPair,
    rooms::Rooms,
    sign::{Evaluator, RateLimiter},
};
use palisade_store::{Room, ServerKey, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

const US: &str = "palisade.example.org";
const REMOTE: &str = "remote.example.org";
const ROOM: &str = "!room:remote.example.org";
const OUR_USER: &str = "@policyserv:palisade.example.org";

/// Counts what `/send` hands on: (room ID, event IDs) per call.
#[derive(Debug, Default)]
struct RecordingSink {
    calls: Mutex<Vec<(String, Vec<String>)>>,
}

impl RecordingSink {
    fn calls(&self) -> Vec<(String, Vec<String>)> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl PduSink for RecordingSink {
    async fn accept(&self, room_id: &str, pdus: Vec<Pdu>) {
        let ids = pdus.iter().map(|pdu| pdu.event_id().to_string()).collect();
        self.calls.lock().unwrap().push((room_id.to_owned(), ids));
    }
}

fn our_keys() -> ServerKeyPair {
    ServerKeyPair {
        federation: Arc::new(SigningKey::from_seed(&[1; 32], "a_test").unwrap()),
        policy: SigningKey::from_seed(&[2; 32], "policy_server").unwrap(),
    }
}

fn remote_key() -> SigningKey {
    SigningKey::from_seed(&[7; 32], "remote1").unwrap()
}

/// A server under test: its state, the sink it hands PDUs to, and a joined room `ROOM` (version 10).
struct Harness {
    state: AppState,
    sink: Arc<RecordingSink>,
}

impl Harness {
    async fn new() -> Self {
        Self::with_settings(InboundSettings::default()).await
    }

    /// A server whose `/send` PDUs go to the real rooms service (the room-state tracker), as in `palisade serve`.
    async fn tracking_state() -> Self {
        let mut harness = Self::new().await;
        harness.state.inbound.pdu_sink = harness.state.rooms.clone();
        harness
    }

    async fn with_settings(settings: InboundSettings) -> Self {
        let server_name: OwnedServerName = US.try_into().unwrap();
        let keys = our_keys();
        let store = palisade_store::open("sqlite::memory:").await.unwrap();
        let client = Arc::new(
            FederationClient::new(
                server_name.clone(),
                keys.federation.clone(),
                Arc::new(StaticResolver::new()),
                FederationConfig::default(),
            )
            .unwrap(),
        );
        let cache = Arc::new(StoreKeyCache::new(store.clone()));
        let keyring = Arc::new(Keyring::new(client.clone(), cache, KeyringConfig::default()));
        let evaluator = Arc::new(Evaluator::new(Default::default(), Default::default(), Vec::new()));
        let sink = Arc::new(RecordingSink::default());
        let inbound = InboundFederation { pdu_sink: sink.clone(), settings };
        seed(&*store).await;
        let membership =
            Membership::new(client.clone(), keyring.clone(), store.clone(), keys.federation.clone());
        let rooms = Arc::new(Rooms::new(membership, store.clone(), OUR_USER.try_into().unwrap(), None));
        let state = AppState::from(Services {
            server_name,
            keys: Arc::new(keys),
            store,
            federation: Federation { client, keyring },
            evaluator,
            sign_limiter: Arc::new(RateLimiter::default()),
            sign_shedder: Arc::default(),
            inbound,
            rooms,
        });
        Self { state, sink }
    }

    /// Sends a request through the router; returns status, content type and the raw body.
    async fn raw(&self, request: Request<Body>) -> (StatusCode, String, Vec<u8>) {
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = to_bytes(response.into_body(), 1 << 22).await.unwrap().to_vec();
        (status, content_type, bytes)
    }

    async fn call(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, _, bytes) = self.raw(request).await;
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

/// The remote server's key (valid far into the future) and our room.
async fn seed(store: &dyn Store) {
    let key = remote_key();
    let row = ServerKey {
        server_name: REMOTE.to_owned(),
        key_id: key.key_id(),
        public_key: key.public_key_base64(),
        valid_until_ts: i64::MAX / 2,
        expired_ts: None,
    };
    store.put_server_key(&row).await.unwrap();
    let community = store.create_community("test").await.unwrap();
    let room = Room::joined(ROOM, "10", community.id);
    store.put_room(&room).await.unwrap();
}

fn v10() -> RoomVersion {
    RoomVersion::parse("10").unwrap()
}

/// A message by `sender` in `room`, hashed and signed by the sender's server with `key`.
fn event(room: &str, sender: &str, body: &str, key: &SigningKey) -> CanonicalObject {
    let mut object = canonical_json::from_value(json!({
        "type": "m.room.message",
        "room_id": room,
        "sender": sender,
        "origin_server_ts": 1_700_000_000_000_i64,
        "depth": 7,
        "prev_events": ["$prev"],
        "auth_events": ["$create", "$power", "$member"],
        "content": {"msgtype": "m.text", "body": body},
    }))
    .unwrap();
    let server = sender.split_once(':').unwrap().1;
    hash_and_sign_event(&mut object, server, key, &v10()).unwrap();
    object
}

fn event_id_of(object: &CanonicalObject) -> String {
    Pdu::from_object(object.clone(), &v10()).unwrap().event_id().to_string()
}

fn as_json(object: &CanonicalObject) -> Value {
    canonical_json::to_json_value(object)
}

/// A request signed by `REMOTE` with `key` for `destination`.
fn signed_with(
    key: &SigningKey,
    destination: &str,
    method: &str,
    uri: &str,
    body: Option<&Value>,
) -> Request<Body> {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    let target = RequestTarget { method, uri, body: &bytes };
    let auth =
        sign_request(target, REMOTE.try_into().unwrap(), destination.try_into().unwrap(), key).unwrap();
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, auth.to_header_value())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(bytes))
        .unwrap()
}

fn signed(method: &str, uri: &str, body: Option<&Value>) -> Request<Body> {
    signed_with(&remote_key(), US, method, uri, body)
}

fn transaction(pdus: Vec<Value>) -> Value {
    json!({"origin": REMOTE, "origin_server_ts": 1_700_000_000_000_i64, "pdus": pdus, "edus": [
        {"edu_type": "m.typing", "content": {"room_id": ROOM, "user_id": "@alice:remote.example.org", "typing": true}}
    ]})
}

fn assert_matrix_error(status: StatusCode, body: &Value, expected: StatusCode, errcode: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["errcode"], errcode, "{body}");
    assert!(body["error"].is_string(), "{body}");
}

// ----- /send ---------------------------------------------------------------------------------------------

/// A state event by `sender` (of `REMOTE`) in `ROOM` at `depth`, hashed and signed with the remote key.
fn state_pdu(sender: &str, event_type: &str, state_key: &str, content: Value, depth: i64) -> CanonicalObject {
    let mut object = canonical_json::from_value(json!({
        "type": event_type,
        "state_key": state_key,
        "room_id": ROOM,
        "sender": sender,
        "origin_server_ts": 1_700_000_000_000_i64,
        "depth": depth,
        "prev_events": ["$prev"],
        "auth_events": ["$create", "$power", "$member"],
        "content": content,
    }))
    .unwrap();
    hash_and_sign_event(&mut object, REMOTE, &remote_key(), &v10()).unwrap();
    object
}

/// Seeds `ROOM`'s state as a send_join would: created by `admin` (power 100), public, `alice` joined.
async fn seed_room_state(harness: &Harness, admin: &str, alice: &str) {
    let seeded = [
        state_pdu(admin, "m.room.create", "", json!({"room_version": "10"}), 1),
        state_pdu(admin, "m.room.member", admin, json!({"membership": "join"}), 2),
        state_pdu(admin, "m.room.power_levels", "", json!({"users": {admin: 100}}), 3),
        state_pdu(admin, "m.room.join_rules", "", json!({"join_rule": "public"}), 4),
        state_pdu(alice, "m.room.member", alice, json!({"membership": "join"}), 5),
    ];
    let events: Vec<_> = seeded
        .iter()
        .map(|object| {
            let pdu = Pdu::from_object(object.clone(), &v10()).unwrap();
            palisade_store::StateEvent {
                event_type: pdu.event_type().to_owned(),
                state_key: pdu.state_key().unwrap_or_default().to_owned(),
                event_id: pdu.event_id().to_string(),
                event: pdu.to_json_value(),
            }
        })
        .collect();
    harness.state.store.replace_room_state(ROOM, &events, 1).await.unwrap();
}

#[tokio::test]
async fn send_keeps_the_room_state_that_sign_reads_live() {
    let harness = Harness::tracking_state().await;
    let admin = "@admin:remote.example.org";
    let alice = "@alice:remote.example.org";
    seed_room_state(&harness, admin, alice).await;
    let context = harness.state.evaluator.room_context(&harness.state, ROOM).await.unwrap();
    let (us, policy_key) = (&harness.state.server_name, harness.state.keys.policy.public_key());
    assert!(!context.names_us(us, &policy_key));

    // The admin names us as the room's policy server; alice (power 0) tries to change the topic.
    let policy = RoomPolicy::new(us, policy_key).stable_content();
    let set_policy = state_pdu(admin, "m.room.policy", "", policy, 7);
    let topic = state_pdu(alice, "m.room.topic", "", json!({"topic": "spam"}), 8);
    let body = transaction(vec![as_json(&set_policy), as_json(&topic)]);
    let (status, response) = harness.call(signed("PUT", "/_matrix/federation/v1/send/s1", Some(&body))).await;
    assert_eq!(status, StatusCode::OK, "{response}");

    // The next /sign sees the policy at once; the unauthorised topic never enters the snapshot.
    let context = harness.state.evaluator.room_context(&harness.state, ROOM).await.unwrap();
    assert!(context.names_us(us, &policy_key));
    assert!(harness.state.store.get_state_event(ROOM, "m.room.topic", "").await.unwrap().is_none());

    // A kick of alice by the admin applies; so does a power-level change.
    let kick = state_pdu(admin, "m.room.member", alice, json!({"membership": "leave"}), 9);
    let levels = state_pdu(admin, "m.room.power_levels", "", json!({"users": {admin: 100}, "ban": 40}), 10);
    let body = transaction(vec![as_json(&kick), as_json(&levels)]);
    let (status, _) = harness.call(signed("PUT", "/_matrix/federation/v1/send/s2", Some(&body))).await;
    assert_eq!(status, StatusCode::OK);
    let member = harness.state.store.get_state_event(ROOM, "m.room.member", alice).await.unwrap().unwrap();
    assert_eq!(member.event["content"]["membership"], "leave");
    let context = harness.state.evaluator.room_context(&harness.state, ROOM).await.unwrap();
    let levels = context.snapshot.power_levels.as_ref().unwrap();
    assert_eq!(levels.users.get(admin), Some(&100));
    assert!(!context.snapshot.members.contains_key(alice), "alice was kicked");
}

#[tokio::test]
async fn send_accepts_signed_pdus_and_hands_them_to_the_sink() {
    let harness = Harness::new().await;
    let first = event(ROOM, "@alice:remote.example.org", "hello", &remote_key());
    let second = event(ROOM, "@bob:remote.example.org", "again", &remote_key());
    let body = transaction(vec![as_json(&first), as_json(&second)]);
    let (status, response) = harness.call(signed("PUT", "/_matrix/federation/v1/send/t1", Some(&body))).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let (id1, id2) = (event_id_of(&first), event_id_of(&second));
    assert_eq!(response, json!({"pdus": {&id1: {}, &id2: {}}}));
    assert_eq!(harness.sink.calls(), [(ROOM.to_owned(), vec![id1, id2])]);
}

#[tokio::test]
async fn send_answers_each_bad_pdu_without_failing_the_transaction() {
    let harness = Harness::new().await;
    let good = event(ROOM, "@alice:remote.example.org", "fine", &remote_key());
    // Signed with a key that is not the one the keyring knows under that ID.
    let forged = event(
        ROOM,
        "@mallory:remote.example.org",
        "forged",
        &SigningKey::from_seed(&[8; 32], "remote1").unwrap(),
    );
    // Content changed after hashing: the hash no longer matches, and the ID is still derivable.
    let mut tampered = as_json(&event(ROOM, "@alice:remote.example.org", "original", &remote_key()));
    tampered["content"]["body"] = json!("swapped");
    let tampered = canonical_json::from_value(tampered).unwrap();
    let tampered_id = palisade_matrix::event_id::event_id(&tampered, &v10()).unwrap().to_string();
    // A room we are not in: named by its `event_id` field when it has one, left out when it has none.
    let mut elsewhere_named =
        as_json(&event("!other:remote.example.org", "@alice:remote.example.org", "x", &remote_key()));
    elsewhere_named["event_id"] = json!("$named:remote.example.org");
    let elsewhere_unnamed =
        as_json(&event("!other:remote.example.org", "@alice:remote.example.org", "y", &remote_key()));
    let body = transaction(vec![
        as_json(&good),
        as_json(&forged),
        as_json(&tampered),
        elsewhere_named,
        elsewhere_unnamed,
        json!("not an object"),
    ]);
    let (status, response) = harness.call(signed("PUT", "/_matrix/federation/v1/send/t2", Some(&body))).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let results = response["pdus"].as_object().unwrap();
    assert_eq!(results.len(), 4, "{response}");
    assert_eq!(results[&event_id_of(&good)], json!({}));
    let forged_error = results[&event_id_of(&forged)]["error"].as_str().unwrap();
    assert!(!forged_error.is_empty());
    let tampered_error = results[&tampered_id]["error"].as_str().unwrap();
    assert!(tampered_error.contains("content hash"), "{tampered_error}");
    assert_eq!(results["$named:remote.example.org"], json!({"error": "unknown room"}));
    assert_eq!(harness.sink.calls(), [(ROOM.to_owned(), vec![event_id_of(&good)])]);
}

#[tokio::test]
async fn send_replays_a_retried_transaction_without_calling_the_sink_again() {
    let harness = Harness::new().await;
    let pdu = event(ROOM, "@alice:remote.example.org", "once", &remote_key());
    let body = transaction(vec![as_json(&pdu)]);
    let uri = "/_matrix/federation/v1/send/retry-me";
    let (status, first) = harness.raw(signed("PUT", uri, Some(&body))).await.map_second();
    assert_eq!(status, StatusCode::OK);
    let (status, second) = harness.raw(signed("PUT", uri, Some(&body))).await.map_second();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first, second, "the retry gets the identical body");
    assert_eq!(harness.sink.calls().len(), 1, "the sink saw the transaction once");
    // Another transaction ID is new work.
    let (status, _) = harness.call(signed("PUT", "/_matrix/federation/v1/send/other", Some(&body))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(harness.sink.calls().len(), 2);
}

/// `(status, content type, body)` → `(status, body)`.
trait MapSecond {
    fn map_second(self) -> (StatusCode, Vec<u8>);
}

impl MapSecond for (StatusCode, String, Vec<u8>) {
    fn map_second(self) -> (StatusCode, Vec<u8>) {
        (self.0, self.2)
    }
}

#[tokio::test]
async fn send_refuses_a_transaction_whose_origin_is_not_the_signer() {
    let harness = Harness::new().await;
    let mut body = transaction(vec![]);
    body["origin"] = json!("someone-else.example.org");
    let (status, response) = harness.call(signed("PUT", "/_matrix/federation/v1/send/t3", Some(&body))).await;
    assert_matrix_error(status, &response, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    assert!(harness.sink.calls().is_empty());
}

#[tokio::test]
async fn send_refuses_bodies_that_are_not_transactions() {
    let harness = Harness::new().await;
    // Not JSON at all (the signature was made over `{}`; the body is refused before it is verified).
    let mut request = signed("PUT", "/_matrix/federation/v1/send/t4", Some(&json!({})));
    *request.body_mut() = Body::from("{\"origin\": ");
    let (status, response) = harness.call(request).await;
    assert_matrix_error(status, &response, StatusCode::BAD_REQUEST, "M_NOT_JSON");
    // JSON of the wrong shape.
    for body in [
        json!({"origin": REMOTE, "origin_server_ts": 1, "pdus": {}}),
        json!({"origin": REMOTE, "pdus": []}),
        json!([1, 2]),
    ] {
        let (status, response) =
            harness.call(signed("PUT", "/_matrix/federation/v1/send/t5", Some(&body))).await;
        assert_matrix_error(status, &response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    }
}

#[tokio::test]
async fn send_enforces_the_pdu_and_edu_limits() {
    let harness = Harness::new().await;
    let pdu = as_json(&event(ROOM, "@alice:remote.example.org", "many", &remote_key()));
    let too_many_pdus = transaction(vec![pdu; 51]);
    let (status, response) =
        harness.call(signed("PUT", "/_matrix/federation/v1/send/t6", Some(&too_many_pdus))).await;
    assert_matrix_error(status, &response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let mut too_many_edus = transaction(vec![]);
    too_many_edus["edus"] = Value::Array(vec![json!({"edu_type": "m.presence", "content": {}}); 101]);
    let (status, response) =
        harness.call(signed("PUT", "/_matrix/federation/v1/send/t7", Some(&too_many_edus))).await;
    assert_matrix_error(status, &response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    assert!(harness.sink.calls().is_empty());
}

#[tokio::test]
async fn send_requires_x_matrix() {
    let harness = Harness::new().await;
    let body = transaction(vec![]);
    let unsigned = Request::put("/_matrix/federation/v1/send/t8").body(Body::from(body.to_string())).unwrap();
    let (status, response) = harness.call(unsigned).await;
    assert_matrix_error(status, &response, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");
    let elsewhere =
        signed_with(&remote_key(), "other.example.org", "PUT", "/_matrix/federation/v1/send/t8", Some(&body));
    let (status, response) = harness.call(elsewhere).await;
    assert_matrix_error(status, &response, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");
    let forged_key = SigningKey::from_seed(&[8; 32], "remote1").unwrap();
    let forged = signed_with(&forged_key, US, "PUT", "/_matrix/federation/v1/send/t8", Some(&body));
    let (status, response) = harness.call(forged).await;
    assert_matrix_error(status, &response, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");
    let (status, response) =
        harness.call(Request::post("/_matrix/federation/v1/send/t8").body(Body::empty()).unwrap()).await;
    assert_matrix_error(status, &response, StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED");
}

// ----- user devices and profile ---------------------------------------------------------------------------

#[tokio::test]
async fn user_devices_answers_for_our_user_only() {
    let harness = Harness::new().await;
    let uri = format!("/_matrix/federation/v1/user/devices/{}", "%40policyserv%3Apalisade.example.org");
    let (status, body) = harness.call(signed("GET", &uri, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"user_id": OUR_USER, "stream_id": 0, "devices": []}));
    let (status, body) = harness
        .call(signed("GET", "/_matrix/federation/v1/user/devices/@alice:remote.example.org", None))
        .await;
    assert_matrix_error(status, &body, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    let (status, body) = harness
        .call(signed("GET", "/_matrix/federation/v1/user/devices/@alice:palisade.example.org", None))
        .await;
    assert_matrix_error(status, &body, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let (status, body) =
        harness.call(signed("GET", "/_matrix/federation/v1/user/devices/not-a-user", None)).await;
    assert_matrix_error(status, &body, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    let unsigned = Request::get(&uri).body(Body::empty()).unwrap();
    let (status, body) = harness.call(unsigned).await;
    assert_matrix_error(status, &body, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");
}

#[tokio::test]
async fn profile_of_our_user() {
    let harness = Harness::new().await;
    let base = "/_matrix/federation/v1/query/profile?user_id=%40policyserv%3Apalisade.example.org";
    let (status, body) = harness.call(signed("GET", base, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"displayname": "Palisade"}));
    let (status, body) = harness.call(signed("GET", &format!("{base}&field=displayname"), None)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"displayname": "Palisade"})));
    let (status, body) = harness.call(signed("GET", &format!("{base}&field=avatar_url"), None)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})), "an unset field is left out, as Synapse does");
    for other in ["%40alice%3Aremote.example.org", "%40alice%3Apalisade.example.org"] {
        let uri = format!("/_matrix/federation/v1/query/profile?user_id={other}");
        let (status, body) = harness.call(signed("GET", &uri, None)).await;
        assert_matrix_error(status, &body, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    }
    let (status, body) = harness.call(signed("GET", "/_matrix/federation/v1/query/profile", None)).await;
    assert_matrix_error(status, &body, StatusCode::BAD_REQUEST, "M_MISSING_PARAM");
    let unsigned = Request::get(base).body(Body::empty()).unwrap();
    let (status, body) = harness.call(unsigned).await;
    assert_matrix_error(status, &body, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");
}

// ----- invites --------------------------------------------------------------------------------------------

/// An invite of `invitee` into `room` by alice of the remote server, and the request path for it.
fn invite(room: &str, invitee: &str) -> (CanonicalObject, String) {
    let mut object = canonical_json::from_value(json!({
        "type": "m.room.member",
        "state_key": invitee,
        "room_id": room,
        "sender": "@alice:remote.example.org",
        "origin_server_ts": 1_700_000_000_000_i64,
        "depth": 9,
        "prev_events": ["$prev"],
        "auth_events": ["$create", "$power", "$alice"],
        "content": {"membership": "invite"},
    }))
    .unwrap();
    hash_and_sign_event(&mut object, REMOTE, &remote_key(), &v10()).unwrap();
    let event_id = event_id_of(&object);
    let path = format!("/_matrix/federation/v2/invite/{}/{}", encode(room), encode(&event_id));
    (object, path)
}

fn encode(id: &str) -> String {
    id.replace('!', "%21").replace('$', "%24").replace(':', "%3A").replace('@', "%40")
}

fn invite_body(object: &CanonicalObject) -> Value {
    json!({"room_version": "10", "event": as_json(object), "invite_room_state": []})
}

fn policy(accept_invites: AcceptInvites) -> InboundSettings {
    InboundSettings {
        accept_invites,
        invite_allowed_servers: ["friends.example.org".to_owned()].into(),
        invite_allowed_rooms: [ROOM.to_owned()].into(),
        ..InboundSettings::default()
    }
}

#[tokio::test]
async fn invites_are_refused_by_default() {
    let harness = Harness::new().await;
    let (object, path) = invite(ROOM, OUR_USER);
    let (status, body) = harness.call(signed("PUT", &path, Some(&invite_body(&object)))).await;
    assert_matrix_error(status, &body, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    assert!(body["error"].as_str().unwrap().contains("not accepted"), "{body}");
}

#[tokio::test]
async fn accepted_invites_come_back_countersigned() {
    let harness = Harness::with_settings(policy(AcceptInvites::Always)).await;
    let (object, path) = invite("!anywhere:remote.example.org", OUR_USER);
    let (status, body) = harness.call(signed("PUT", &path, Some(&invite_body(&object)))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let returned = canonical_json::from_value(body["event"].clone()).unwrap();
    let pdu = Pdu::from_object(returned, &v10()).unwrap();
    assert_eq!(pdu.event_id().to_string(), event_id_of(&object), "signing does not change the event");
    let ours = &our_keys().federation;
    let mut keys = VerifyKeys::new();
    keys.insert(REMOTE, &remote_key().key_id(), &remote_key().public_key());
    keys.insert(US, &ours.key_id(), &ours.public_key());
    verify_event_signatures(&pdu, &keys).unwrap();
    assert!(body["event"]["signatures"][US][ours.key_id()].is_string(), "{body}");
    assert!(body["event"]["signatures"][REMOTE].is_object(), "the inviter's signature is kept");
}

#[tokio::test]
async fn listed_invites_need_a_listed_server_or_room() {
    let harness = Harness::with_settings(policy(AcceptInvites::Listed)).await;
    let (object, path) = invite(ROOM, OUR_USER);
    let (status, body) = harness.call(signed("PUT", &path, Some(&invite_body(&object)))).await;
    assert_eq!(status, StatusCode::OK, "listed room: {body}");
    let (object, path) = invite("!unlisted:remote.example.org", OUR_USER);
    let (status, body) = harness.call(signed("PUT", &path, Some(&invite_body(&object)))).await;
    assert_matrix_error(status, &body, StatusCode::FORBIDDEN, "M_FORBIDDEN");

    let mut settings = policy(AcceptInvites::Listed);
    settings.invite_allowed_servers.insert(REMOTE.to_owned());
    let harness = Harness::with_settings(settings).await;
    let (status, body) = harness.call(signed("PUT", &path, Some(&invite_body(&object)))).await;
    assert_eq!(status, StatusCode::OK, "listed server: {body}");
}

#[tokio::test]
async fn invites_must_be_for_our_user_and_match_the_path() {
    let harness = Harness::with_settings(policy(AcceptInvites::Always)).await;
    for invitee in ["@alice:palisade.example.org", "@policyserv:remote.example.org"] {
        let (object, path) = invite(ROOM, invitee);
        let (status, body) = harness.call(signed("PUT", &path, Some(&invite_body(&object)))).await;
        assert_matrix_error(status, &body, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    }
    let (object, _) = invite(ROOM, OUR_USER);
    let wrong_path = format!("/_matrix/federation/v2/invite/{}/%24wrong", encode(ROOM));
    let (status, body) = harness.call(signed("PUT", &wrong_path, Some(&invite_body(&object)))).await;
    assert_matrix_error(status, &body, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let (object, path) = invite(ROOM, OUR_USER);
    let mut body = invite_body(&object);
    body["room_version"] = json!("999");
    let (status, response) = harness.call(signed("PUT", &path, Some(&body))).await;
    assert_matrix_error(status, &response, StatusCode::BAD_REQUEST, "M_INCOMPATIBLE_ROOM_VERSION");
    assert_eq!(response["room_version"], "999");
    let (status, response) = harness.call(signed("PUT", &path, Some(&json!({"event": 1})))).await;
    assert_matrix_error(status, &response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
}

// ----- everything else ------------------------------------------------------------------------------------

#[tokio::test]
async fn unserved_federation_paths_get_one_m_unrecognized_body() {
    let harness = Harness::new().await;
    let paths = [
        ("GET", "/_matrix/federation/v1/make_join/%21room%3Ax/%40u%3Ax?ver=10&ver=12"),
        ("PUT", "/_matrix/federation/v2/send_join/%21room%3Ax/%24e"),
        ("GET", "/_matrix/federation/v1/make_leave/%21room%3Ax/%40u%3Ax"),
        ("GET", "/_matrix/federation/v1/backfill/%21room%3Ax?v=%24e&limit=10"),
        ("GET", "/_matrix/federation/v1/state/%21room%3Ax?event_id=%24e"),
        ("GET", "/_matrix/federation/v1/state_ids/%21room%3Ax?event_id=%24e"),
        ("GET", "/_matrix/federation/v1/event/%24e"),
        ("POST", "/_matrix/federation/v1/get_missing_events/%21room%3Ax"),
        ("POST", "/_matrix/federation/v1/user/keys/query"),
        ("PUT", "/_matrix/federation/v1/invite/%21room%3Ax/%24e"),
        ("GET", "/_matrix/federation/unstable/anything"),
    ];
    for (method, path) in paths {
        let (status, content_type, bytes) = harness.raw(signed(method, path, None)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(content_type, "application/json", "{method} {path}");
        // Exactly one JSON document: a second concatenated body would fail to parse as one value.
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(body, json!({"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}));
    }
}

#[tokio::test]
async fn well_known_server_delegation() {
    let harness = Harness::new().await;
    let (status, body) =
        harness.call(Request::get("/.well-known/matrix/server").body(Body::empty()).unwrap()).await;
    assert_matrix_error(status, &body, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let settings = InboundSettings {
        well_known_server: Some("policy.example.org:443".to_owned()),
        ..InboundSettings::default()
    };
    let harness = Harness::with_settings(settings).await;
    let (status, body) =
        harness.call(Request::get("/.well-known/matrix/server").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"m.server": "policy.example.org:443"}));
}

// ----- every authenticated route ---------------------------------------------------------------------------

/// Every route that requires X-Matrix, with a request shape it accepts.
const AUTHENTICATED_ROUTES: &[(&str, &str)] = &[
    ("PUT", "/_matrix/federation/v1/send/every1"),
    ("GET", "/_matrix/federation/v1/user/devices/%40policyserv%3Apalisade.example.org"),
    ("GET", "/_matrix/federation/v1/query/profile?user_id=%40policyserv%3Apalisade.example.org"),
    ("PUT", "/_matrix/federation/v2/invite/%21room%3Aremote.example.org/%24event"),
    ("POST", "/_matrix/policy/v1/sign"),
    ("POST", "/_matrix/policy/unstable/org.matrix.msc4284/sign"),
];

#[tokio::test]
async fn every_authenticated_route_answers_bad_auth_and_bad_bodies_with_one_matrix_error() {
    let harness = Harness::new().await;
    for &(method, uri) in AUTHENTICATED_ROUTES {
        let body = (method != "GET").then(|| json!({}));
        let bytes = body.as_ref().map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();

        // No Authorization header.
        let request = Request::builder().method(method).uri(uri).body(Body::from(bytes.clone())).unwrap();
        let (status, content_type, raw) = harness.raw(request).await;
        let parsed: Value = serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{method} {uri}: {e}"));
        assert_eq!(content_type, "application/json", "{method} {uri}");
        assert_matrix_error(status, &parsed, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");

        // Signed for another destination, and signed by a key that is not the origin's.
        let request = signed_with(&remote_key(), "elsewhere.example.org", method, uri, body.as_ref());
        let (status, parsed) = harness.call(request).await;
        assert_matrix_error(status, &parsed, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");
        let impostor = SigningKey::from_seed(&[8; 32], "remote1").unwrap();
        let (status, parsed) = harness.call(signed_with(&impostor, US, method, uri, body.as_ref())).await;
        assert_matrix_error(status, &parsed, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");

        if method != "GET" {
            // A correctly signed body of the wrong shape.
            let (status, parsed) = harness.call(signed(method, uri, Some(&json!([1, 2, 3])))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri}: {parsed}");
            let errcode = parsed["errcode"].as_str().unwrap_or_default();
            assert!(["M_BAD_JSON", "M_NOT_JSON"].contains(&errcode), "{method} {uri}: {parsed}");
            assert!(parsed["error"].is_string(), "{method} {uri}: {parsed}");
        }

        // Another method on the same path.
        let other = if method == "GET" { "DELETE" } else { "GET" };
        let request = Request::builder().method(other).uri(uri).body(Body::empty()).unwrap();
        let (status, content_type, raw) = harness.raw(request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{other} {uri}");
        assert_eq!(content_type, "application/json", "{other} {uri}");
        let parsed: Value = serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{other} {uri}: {e}"));
        assert!(parsed["errcode"].is_string() && parsed["error"].is_string(), "{other} {uri}: {parsed}");
    }
}

#[tokio::test]
async fn unknown_rooms_get_matrix_answers() {
    let harness = Harness::new().await;
    // /send: a PDU of a room we are not in is dropped (its room version, hence its event ID, is unknown here),
    // and the transaction still succeeds.
    let stranger = event("!elsewhere:remote.example.org", "@alice:remote.example.org", "hi", &remote_key());
    let body = transaction(vec![as_json(&stranger)]);
    let (status, response) = harness.call(signed("PUT", "/_matrix/federation/v1/send/u1", Some(&body))).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response, json!({"pdus": {}}));
    assert!(harness.sink.calls().is_empty());
    // /sign: an event of a room we are not in is not found.
    let (status, response) =
        harness.call(signed("POST", "/_matrix/policy/v1/sign", Some(&as_json(&stranger)))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{response}");
    assert!(response["errcode"].is_string() && response["error"].is_string(), "{response}");
}

#[tokio::test]
async fn a_policy_rule_arriving_over_send_applies_to_the_next_sign() {
    let harness = Harness::tracking_state().await;
    let (admin, alice) = ("@admin:remote.example.org", "@alice:remote.example.org");
    seed_room_state(&harness, admin, alice).await;
    // The room protects itself and is also the community's policy list.
    let room = harness.state.store.get_room(ROOM).await.unwrap().unwrap();
    let config = json!({"policy_list_room_ids": [ROOM]});
    assert!(harness.state.store.set_community_config(&room.community_id, &config).await.unwrap());
    let (us, policy_key) = (&harness.state.server_name, harness.state.keys.policy.public_key());
    let set_policy =
        state_pdu(admin, "m.room.policy", "", RoomPolicy::new(us, policy_key).stable_content(), 7);
    let body = transaction(vec![as_json(&set_policy)]);
    assert_eq!(
        harness.call(signed("PUT", "/_matrix/federation/v1/send/p1", Some(&body))).await.0,
        StatusCode::OK
    );

    let ask = |n: i64| {
        let message = event(ROOM, alice, &format!("hello {n}"), &remote_key());
        signed("POST", "/_matrix/policy/v1/sign", Some(&as_json(&message)))
    };
    let (status, answer) = harness.call(ask(20)).await;
    assert_eq!(status, StatusCode::OK, "no rule yet: {answer}");

    let ban = state_pdu(
        admin,
        "m.policy.rule.user",
        "rule1",
        json!({"entity": "@ali?e:remote.example.org", "recommendation": "m.ban", "reason": "spam"}),
        21,
    );
    let body = transaction(vec![as_json(&ban)]);
    assert_eq!(
        harness.call(signed("PUT", "/_matrix/federation/v1/send/p2", Some(&body))).await.0,
        StatusCode::OK
    );
    let (status, answer) = harness.call(ask(22)).await;
    assert_matrix_error(status, &answer, StatusCode::BAD_REQUEST, "M_FORBIDDEN");
}

/// An `m.room.redaction` of `target` by `sender` (of `REMOTE`) in `ROOM` at `depth`: v10, so `redacts` is top-level.
fn redaction_pdu(sender: &str, target: &str, depth: i64) -> CanonicalObject {
    let mut object = canonical_json::from_value(json!({
        "type": "m.room.redaction",
        "redacts": target,
        "room_id": ROOM,
        "sender": sender,
        "origin_server_ts": 1_700_000_000_000_i64,
        "depth": depth,
        "prev_events": ["$prev"],
        "auth_events": ["$create", "$power", "$member"],
        "content": {"reason": "rule withdrawn"},
    }))
    .unwrap();
    hash_and_sign_event(&mut object, REMOTE, &remote_key(), &v10()).unwrap();
    object
}

#[tokio::test]
async fn a_redacted_policy_rule_stops_applying() {
    let harness = Harness::tracking_state().await;
    let (admin, alice) = ("@admin:remote.example.org", "@alice:remote.example.org");
    seed_room_state(&harness, admin, alice).await;
    let room = harness.state.store.get_room(ROOM).await.unwrap().unwrap();
    // No hellban: lifting the rule is all it takes for alice to speak again.
    let config = json!({"policy_list_room_ids": [ROOM], "hellban_postfilter_minutes": 0});
    assert!(harness.state.store.set_community_config(&room.community_id, &config).await.unwrap());
    let (us, policy_key) = (&harness.state.server_name, harness.state.keys.policy.public_key());
    let set_policy =
        state_pdu(admin, "m.room.policy", "", RoomPolicy::new(us, policy_key).stable_content(), 7);
    let ban = state_pdu(
        admin,
        "m.policy.rule.user",
        "rule1",
        json!({"entity": "@ali?e:remote.example.org", "recommendation": "m.ban", "reason": "spam"}),
        8,
    );
    let body = transaction(vec![as_json(&set_policy), as_json(&ban)]);
    assert_eq!(
        harness.call(signed("PUT", "/_matrix/federation/v1/send/r1", Some(&body))).await.0,
        StatusCode::OK
    );

    let ask = |n: i64| {
        let message = event(ROOM, alice, &format!("hello {n}"), &remote_key());
        signed("POST", "/_matrix/policy/v1/sign", Some(&as_json(&message)))
    };
    let (status, answer) = harness.call(ask(20)).await;
    assert_matrix_error(status, &answer, StatusCode::BAD_REQUEST, "M_FORBIDDEN");

    let redaction = redaction_pdu(admin, &event_id_of(&ban), 21);
    let body = transaction(vec![as_json(&redaction)]);
    assert_eq!(
        harness.call(signed("PUT", "/_matrix/federation/v1/send/r2", Some(&body))).await.0,
        StatusCode::OK
    );
    let stored =
        harness.state.store.get_state_event(ROOM, "m.policy.rule.user", "rule1").await.unwrap().unwrap();
    assert_eq!(stored.event_id, event_id_of(&ban));
    assert_eq!(stored.event["content"], json!({}), "the stored rule is the redacted event");
    let (status, answer) = harness.call(ask(22)).await;
    assert_eq!(status, StatusCode::OK, "the redacted rule no longer bans alice: {answer}");
}
