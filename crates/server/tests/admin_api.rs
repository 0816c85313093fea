//! The operator (admin) and community API end to end through the real router, on an in-memory SQLite store.
//! Vectors follow policyserv's API tests (catalogue §8.8, items 70–79) plus Palisade's additions.

#![allow(clippy::unwrap_used)] // test helpers panic on broken fixtures by design

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use http::{Method, Request, StatusCode, header};
use palisade_federation::{
    FederationClient, FederationConfig, Keyring, KeyringConfig, StaticResolver, StoreKeyCache,
    membership::Membership,
};
use palisade_matrix::{OwnedServerName, SigningKey};
use palisade_policy::CommunityConfig;
use palisade_server::{
    federation_setup::Federation,
    http::{
        AppState, Services,
        admin::{ApiSettings, ROUTES as ADMIN_ROUTES},
        community::ROUTES as COMMUNITY_ROUTES,
        federation::{DiscardPdus, InboundFederation, InboundSettings},
        openapi, router_with_api,
    },
    key_files::ServerKeyPair,
    rooms::Rooms,
    sign::{Evaluator, RateLimiter},
};
use palisade_store::{JoinState, Room, StoredVerdict, VerdictClass};
use serde_json::{Value, json};
use tower::ServiceExt;

const KEY: &str = "admin-secret-key";
const US: &str = "palisade.example.org";
const ROOM: &str = "!room:remote.example.org";

struct Api {
    state: AppState,
    key: Option<String>,
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: Value,
}

impl Api {
    async fn new() -> Self {
        Self::with_key(Some(KEY)).await
    }

    async fn with_key(key: Option<&str>) -> Self {
        let server_name: OwnedServerName = US.try_into().unwrap();
        let keys = ServerKeyPair {
            federation: Arc::new(SigningKey::from_seed(&[1; 32], "a_test").unwrap()),
            policy: SigningKey::from_seed(&[2; 32], "policy_server").unwrap(),
        };
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
        let instance = CommunityConfig {
            keyword_filter_keywords: Some(vec!["instancespam".to_owned()]),
            ..Default::default()
        };
        let evaluator = Arc::new(Evaluator::new(instance, Default::default(), Vec::new()));
        let membership =
            Membership::new(client.clone(), keyring.clone(), store.clone(), keys.federation.clone());
        let user = "@policyserv:palisade.example.org".try_into().unwrap();
        let rooms = Arc::new(Rooms::new(membership, store.clone(), user, None));
        let state = AppState::from(Services {
            server_name,
            keys: Arc::new(keys),
            store,
            federation: Federation { client, keyring },
            evaluator,
            sign_limiter: Arc::new(RateLimiter::default()),
            sign_shedder: Arc::default(),
            inbound: InboundFederation {
                pdu_sink: Arc::new(DiscardPdus),
                settings: InboundSettings::default(),
            },
            rooms,
        });
        Self { state, key: key.map(str::to_owned) }
    }

    async fn send(&self, method: Method, uri: &str, auth: Option<&str>, body: Body) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let settings = ApiSettings { key: self.key.clone(), ..ApiSettings::default() };
        let response =
            router_with_api(self.state.clone(), settings).oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = to_bytes(response.into_body(), 1 << 22).await.unwrap();
        // Exactly one JSON document: a second body appended (policyserv's double-response bug) fails to parse.
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{uri}: body is not one JSON document ({e}): {bytes:?}"));
        Reply { status, content_type, body }
    }

    async fn admin(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        self.send(method, uri, Some(&format!("Bearer {KEY}")), body).await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.admin(Method::GET, uri, None).await
    }

    async fn post(&self, uri: &str, body: Value) -> Reply {
        self.admin(Method::POST, uri, Some(body)).await
    }

    async fn raw_post(&self, uri: &str, auth: &str, body: &str) -> Reply {
        self.send(Method::POST, uri, Some(auth), Body::from(body.to_owned())).await
    }

    async fn community(&self, name: &str) -> String {
        let reply = self.post("/api/v1/communities/new", json!({"name": name})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["community_id"].as_str().unwrap().to_owned()
    }

    async fn room(&self, room_id: &str, community_id: &str) {
        let room = Room {
            room_id: room_id.to_owned(),
            room_version: "10".to_owned(),
            community_id: community_id.to_owned(),
            join_state: JoinState::Joined,
            moderator_user_id: None,
            overrides: None,
            last_state_update_ms: 7,
        };
        self.state.store.put_room(&room).await.unwrap();
    }

    async fn verdict(&self, room_id: &str, event_id: &str, class: VerdictClass, harms: &[&str], at: i64) {
        let verdict = StoredVerdict {
            room_id: room_id.to_owned(),
            event_id: event_id.to_owned(),
            reference_hash: None,
            class,
            harms: harms.iter().map(|h| (*h).to_owned()).collect(),
            expiry_ms: None,
            trace: json!([{"filter": "keyword", "outcome": "prohibited", "harms": harms, "mode": "enforce",
                           "reason": "matched keyword \"spammy spam\""}])
            .into(),
            decided_at_ms: at,
        };
        self.state.store.insert_verdict_if_absent(&verdict).await.unwrap();
    }
}

fn assert_error(reply: &Reply, status: StatusCode, errcode: &str, error: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["errcode"], errcode, "{}", reply.body);
    assert_eq!(reply.body["error"], error, "{}", reply.body);
    assert!(reply.content_type.starts_with("application/json"), "{}", reply.content_type);
}

/// A concrete URI for a route pattern.
fn concrete(path: &str) -> String {
    path.replace("{roomId}", "!x:example.org")
        .replace("{communityId}", "nope")
        .replace("{name}", "tpl")
        .replace("{eventId}", "$event")
}

// ----- authentication and routing (§8.8 #70) ----------------------------------------------------------------

#[tokio::test]
async fn every_admin_route_needs_the_key_and_says_so_in_one_matrix_body() {
    let api = Api::new().await;
    for (method, path) in ADMIN_ROUTES {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let uri = concrete(path);
        for auth in [
            None,
            Some("Bearer wrong"),
            Some(KEY),
            Some("Bearer admin-secret-ke"),
            Some("bearer admin-secret-key"),
        ] {
            let reply = api.send(method.clone(), &uri, auth, Body::empty()).await;
            assert_error(&reply, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED", "Not allowed");
            assert_eq!(reply.body["org.matrix.msc4387.harms"], json!([]));
        }
        // With the key, the route exists: never the unknown-path answer.
        let reply = api.admin(method.clone(), &uri, None).await;
        assert_ne!(reply.body["errcode"], "M_UNRECOGNIZED", "{method} {uri}: {}", reply.body);
    }
}

#[tokio::test]
async fn wrong_methods_get_405_and_unknown_api_paths_404() {
    let api = Api::new().await;
    for (method, uri) in [
        (Method::POST, "/api/v1/rooms"),
        (Method::POST, "/api/v1/rooms/!x:example.org"),
        (Method::GET, "/api/v1/rooms/!x:example.org/join"),
        (Method::GET, "/api/v1/communities/new"),
        (Method::POST, "/api/v1/communities/abc"),
        (Method::PUT, "/api/v1/communities/abc/config"),
        (Method::GET, "/api/v1/communities/abc/rotate_access_token"),
        (Method::POST, "/api/v1/instance/community_config"),
        (Method::GET, "/api/v1/set_room_moderator"),
        (Method::GET, "/api/v1/sources/muninn/set_member_directory_event"),
        (Method::PUT, "/api/v1/keyword_templates/abc"),
        (Method::GET, "/_policyserv/v1/check/text"),
        (Method::PUT, "/_policyserv/v1/check/text"),
        (Method::GET, "/_policyserv/v1/check/event_id"),
        (Method::GET, "/_policyserv/v1/join/!x:example.org"),
    ] {
        let reply = api.admin(method.clone(), uri, None).await;
        assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED", "Method not allowed");
    }
    let reply = api.get("/api/v1/nothing").await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_UNRECOGNIZED", "Unrecognized request");
}

#[tokio::test]
async fn without_a_key_the_admin_api_is_not_bound() {
    let api = Api::with_key(None).await;
    for (method, path) in ADMIN_ROUTES {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let reply = api.admin(method, &concrete(path), None).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "M_UNRECOGNIZED", "Unrecognized request");
    }
    // The community API and the OpenAPI document stay.
    let reply = api.raw_post("/_policyserv/v1/check/text", "Bearer nope", "hi").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.get(openapi::PATH).await.status, StatusCode::OK);
}

// ----- communities (§8.8 #71–73) ---------------------------------------------------------------------------

#[tokio::test]
async fn create_community_validates_the_name() {
    let api = Api::new().await;
    let reply = api.admin(Method::POST, "/api/v1/communities/new", None).await;
    assert_eq!((reply.status, reply.body["errcode"].as_str()), (StatusCode::BAD_REQUEST, Some("M_BAD_JSON")));
    let reply = api
        .send(
            Method::POST,
            "/api/v1/communities/new",
            Some(&format!("Bearer {KEY}")),
            Body::from("{not json"),
        )
        .await;
    assert_eq!((reply.status, reply.body["errcode"].as_str()), (StatusCode::BAD_REQUEST, Some("M_BAD_JSON")));
    for body in [json!({}), json!({"name": ""}), json!({"name": "   \t "})] {
        let reply = api.post("/api/v1/communities/new", body).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "M_BAD_JSON", "Name is required");
    }
    for name in ["abc".to_owned(), "x".repeat(255)] {
        let reply = api.post("/api/v1/communities/new", json!({"name": name})).await;
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "M_BAD_JSON",
            "Name must be between 3 and 255 characters",
        );
    }
    let reply = api.post("/api/v1/communities/new", json!({"name": "  Tests  "})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["name"], "Tests");
    assert_eq!(reply.body["config"], json!({}));
    assert_eq!(reply.body["can_self_join_rooms"], false);
    assert!(reply.body["community_id"].as_str().is_some_and(|id| id.len() == 27));
    assert!(reply.body.get("api_access_token").is_none() && reply.body.get("access_token").is_none());
}

#[tokio::test]
async fn get_patch_config_delete_community() {
    let api = Api::new().await;
    for (method, uri) in [
        (Method::GET, "/api/v1/communities/nope"),
        (Method::PATCH, "/api/v1/communities/nope"),
        (Method::POST, "/api/v1/communities/nope/config"),
        (Method::GET, "/api/v1/communities/nope/config"),
        (Method::DELETE, "/api/v1/communities/nope"),
        (Method::POST, "/api/v1/communities/nope/rotate_access_token"),
        (Method::GET, "/api/v1/communities/nope/verdicts"),
        (Method::GET, "/api/v1/communities/nope/stats"),
    ] {
        let reply = api.admin(method, uri, Some(json!({}))).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "M_NOT_FOUND", "Community not found");
    }
    let id = api.community("Patchable").await;
    let uri = format!("/api/v1/communities/{id}");
    let config = json!({"keyword_filter_keywords": ["buy now"], "hellban_postfilter_minutes": 5});
    let reply = api.post(&format!("{uri}/config"), config.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["config"], config);

    // PATCH: name and permission change, the ID does not, config merges key by key (null removes).
    let reply = api
        .admin(
            Method::PATCH,
            &uri,
            Some(json!({"name": "Renamed", "community_id": "evil", "can_self_join_rooms": true,
                        "config": {"hellban_postfilter_minutes": null, "max_length": null, "length_filter_max_length": 500}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["community_id"], id);
    assert_eq!(reply.body["name"], "Renamed");
    assert_eq!(reply.body["can_self_join_rooms"], true);
    assert_eq!(
        reply.body["config"],
        json!({"keyword_filter_keywords": ["buy now"], "length_filter_max_length": 500})
    );
    assert_eq!(api.get(&uri).await.body, reply.body);

    // POST config replaces the whole config; invalid configs are refused with the key named.
    let reply = api.post(&format!("{uri}/config"), json!({"mention_filter_max_mentions": 3})).await;
    assert_eq!(reply.body["config"], json!({"mention_filter_max_mentions": 3}));
    let reply = api.post(&format!("{uri}/config"), json!({"no_such_key": 1})).await;
    assert_eq!((reply.status, reply.body["errcode"].as_str()), (StatusCode::BAD_REQUEST, Some("M_BAD_JSON")));
    assert!(reply.body["error"].as_str().unwrap().contains("no_such_key"), "{}", reply.body);
    let reply = api.post(&format!("{uri}/config"), json!({"mention_filter_max_mentions": "lots"})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = api.post(&format!("{uri}/config"), json!([1, 2])).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(api.get(&uri).await.body["config"], json!({"mention_filter_max_mentions": 3}));

    // GET config: stored layer, instance defaults and the effective result.
    let reply = api.get(&format!("{uri}/config")).await;
    assert_eq!(reply.body["config"], json!({"mention_filter_max_mentions": 3}));
    assert_eq!(reply.body["instance"]["mention_filter_max_mentions"], 20);
    assert_eq!(reply.body["effective"]["mention_filter_max_mentions"], 3);
    assert_eq!(reply.body["effective"]["keyword_filter_keywords"], json!(["instancespam"]));

    // Listing, then deleting: refused while it has rooms and for `default`.
    let listed = api.get("/api/v1/communities").await.body;
    assert!(listed.as_array().unwrap().iter().any(|c| c["community_id"] == id.as_str()));
    api.room(ROOM, &id).await;
    let reply = api.admin(Method::DELETE, &uri, None).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "M_BAD_STATE",
        "Community still has rooms; leave or move them first",
    );
    let reply = api.admin(Method::DELETE, "/api/v1/communities/default", None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "M_BAD_STATE", "The default community cannot be deleted");
    api.state.store.delete_room(ROOM).await.unwrap();
    let reply = api.admin(Method::DELETE, &uri, None).await;
    assert_eq!(reply.body, json!({"community_id": id, "deleted": true}));
    assert_eq!(api.get(&uri).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rotating_the_access_token_revokes_the_old_one() {
    let api = Api::new().await;
    let id = api.community("Tokens").await;
    let uri = format!("/api/v1/communities/{id}/rotate_access_token");
    let first = api.post(&uri, json!({})).await.body;
    assert_eq!(first["old_access_token"], "");
    let first_token = first["new_access_token"].as_str().unwrap().to_owned();
    assert!(first_token.starts_with("pst_"));
    let check = |token: String| {
        let api = &api;
        async move { api.raw_post("/_policyserv/v1/check/text", &format!("Bearer {token}"), "hello").await.status }
    };
    assert_eq!(check(first_token.clone()).await, StatusCode::OK);
    let second = api.post(&uri, json!({})).await.body;
    let second_token = second["new_access_token"].as_str().unwrap().to_owned();
    assert_ne!(first_token, second_token);
    assert_eq!(check(first_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(check(second_token.clone()).await, StatusCode::OK);
    // The token is stored hashed and never shown again.
    assert!(!api.get(&format!("/api/v1/communities/{id}")).await.body.to_string().contains(&second_token));
}

// ----- rooms (§8.8 #74) ------------------------------------------------------------------------------------

#[tokio::test]
async fn rooms_list_get_moderator_move_and_overrides() {
    let api = Api::new().await;
    assert_eq!(api.get("/api/v1/rooms").await.body, json!([]));
    let reply = api.get("/api/v1/rooms/!unknown:example.org").await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_NOT_FOUND", "Room not found");
    let id = api.community("Rooms").await;
    api.room(ROOM, &id).await;
    let expected = json!({"room_id": ROOM, "room_version": "10", "moderator_user_id": "", "last_cached_state_timestamp": 7,
                          "community_id": id, "join_state": "joined", "overrides": null});
    assert_eq!(api.get(&format!("/api/v1/rooms/{ROOM}")).await.body, expected);
    assert_eq!(api.get("/api/v1/rooms").await.body, json!([expected]));

    // set_room_moderator echoes the request; "" unsets.
    let body = json!({"room_id": ROOM, "moderator_user_id": "@mod:example.org"});
    assert_eq!(api.post("/api/v1/set_room_moderator", body.clone()).await.body, body);
    assert_eq!(api.get(&format!("/api/v1/rooms/{ROOM}")).await.body["moderator_user_id"], "@mod:example.org");
    api.post("/api/v1/set_room_moderator", json!({"room_id": ROOM, "moderator_user_id": ""})).await;
    assert_eq!(api.get(&format!("/api/v1/rooms/{ROOM}")).await.body["moderator_user_id"], "");
    let reply =
        api.post("/api/v1/set_room_moderator", json!({"room_id": "!nope:x", "moderator_user_id": ""})).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_NOT_FOUND", "Room not found");
    let reply = api.post("/api/v1/set_room_moderator", json!({"moderator_user_id": 5})).await;
    assert_eq!(reply.body["errcode"], "M_BAD_JSON");

    // Move to another community.
    let other = api.community("Other").await;
    let uri = format!("/api/v1/rooms/{ROOM}/community");
    let reply = api.admin(Method::PUT, &uri, Some(json!({"community_id": other}))).await;
    assert_eq!(reply.body["community_id"], other.as_str());
    let reply = api.admin(Method::PUT, &uri, Some(json!({"community_id": "nope"}))).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "M_BAD_STATE", "Community not found");
    let reply =
        api.admin(Method::PUT, "/api/v1/rooms/!nope:x/community", Some(json!({"community_id": other}))).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_NOT_FOUND", "Room not found");

    // Per-room overrides layer over the community config.
    api.post(&format!("/api/v1/communities/{other}/config"), json!({"mention_filter_max_mentions": 3})).await;
    let uri = format!("/api/v1/rooms/{ROOM}/config");
    let reply = api.get(&uri).await;
    assert_eq!(reply.body["overrides"], json!({}));
    assert_eq!(reply.body["effective"]["mention_filter_max_mentions"], 3);
    let reply = api.admin(Method::PUT, &uri, Some(json!({"mention_filter_max_mentions": 9}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["effective"]["mention_filter_max_mentions"], 9);
    assert_eq!(
        api.get(&format!("/api/v1/rooms/{ROOM}")).await.body["overrides"],
        json!({"mention_filter_max_mentions": 9})
    );
    let reply = api.admin(Method::PUT, &uri, Some(json!({"bogus": true}))).await;
    assert_eq!(reply.body["errcode"], "M_BAD_JSON");
    let reply = api.admin(Method::DELETE, &uri, None).await;
    assert_eq!(reply.body["effective"]["mention_filter_max_mentions"], 3);
    let reply = api.get("/api/v1/rooms/!nope:x/config").await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_NOT_FOUND", "Room not found");
}

#[tokio::test]
async fn join_errors_follow_policyserv() {
    let api = Api::new().await;
    let uri = format!("/api/v1/rooms/{ROOM}/join");
    let reply = api.send(Method::POST, &uri, Some(&format!("Bearer {KEY}")), Body::from("nope")).await;
    assert_eq!((reply.status, reply.body["errcode"].as_str()), (StatusCode::BAD_REQUEST, Some("M_BAD_JSON")));
    for body in [json!({}), json!({"community_id": "missing"})] {
        let reply = api.post(&uri, body).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "M_BAD_STATE", "Community not found");
    }
    let id = api.community("Joins").await;
    api.room(ROOM, &id).await;
    let reply = api.post(&uri, json!({"community_id": id})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "M_BAD_STATE", "Room already exists");
    let reply = api.post("/api/v1/rooms/not-a-room/join", json!({"community_id": id})).await;
    assert_eq!(
        (reply.status, reply.body["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_INVALID_PARAM"))
    );
    // No server to join a v12 room through (no join server configured): a join failure, one body.
    let v12 = "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM";
    let reply = api.post(&format!("/api/v1/rooms/{v12}/join"), json!({"community_id": id})).await;
    assert_eq!(
        (reply.status, reply.body["errcode"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("M_UNKNOWN"))
    );
    assert!(api.state.store.get_room(v12).await.unwrap().is_none());
}

#[tokio::test]
async fn leaving_an_unknown_room_is_404_and_force_forgets_an_unreachable_one() {
    let api = Api::new().await;
    let reply = api.admin(Method::DELETE, "/api/v1/rooms/!nope:example.org", None).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_NOT_FOUND", "Room not found");
    let v12 = "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM";
    api.room(v12, "default").await;
    let reply = api.admin(Method::DELETE, &format!("/api/v1/rooms/{v12}"), None).await;
    assert_eq!((reply.status, reply.body["errcode"].as_str()), (StatusCode::BAD_GATEWAY, Some("M_UNKNOWN")));
    assert!(api.state.store.get_room(v12).await.unwrap().is_some());
    let reply = api.admin(Method::DELETE, &format!("/api/v1/rooms/{v12}?force=true"), None).await;
    assert_eq!(reply.body, json!({"room_id": v12, "left": false}));
    assert!(api.state.store.get_room(v12).await.unwrap().is_none());
}

// ----- instance, templates, Muninn (§8.8 #75–76) -----------------------------------------------------------

#[tokio::test]
async fn instance_config_is_every_key_resolved() {
    let api = Api::new().await;
    let reply = api.get("/api/v1/instance/community_config").await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.body.as_object().unwrap();
    for key in palisade_policy::community_config::COMMUNITY_KEYS {
        assert!(body.contains_key(*key), "{key} missing");
    }
    assert_eq!(reply.body["keyword_filter_keywords"], json!(["instancespam"]));
    assert_eq!(reply.body["hellban_postfilter_minutes"], 60);
}

#[tokio::test]
async fn keyword_templates_are_validated_stored_and_deleted() {
    let api = Api::new().await;
    let reply = api.get("/api/v1/keyword_templates/spam").await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_NOT_FOUND", "Template not found");
    let auth = format!("Bearer {KEY}");
    let good = "{{ if StringContains .BodyRaw \"buy\" }}org.matrix.msc4456.spam{{ end }}";
    let reply = api.raw_post("/api/v1/keyword_templates/spam", &auth, good).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, json!({"name": "spam", "body": good}));
    assert_eq!(api.get("/api/v1/keyword_templates/spam").await.body, json!({"name": "spam", "body": good}));
    let reply = api.raw_post("/api/v1/keyword_templates/spam", &auth, "{{ if }").await;
    assert_eq!((reply.status, reply.body["errcode"].as_str()), (StatusCode::BAD_REQUEST, Some("M_BAD_JSON")));
    assert!(reply.body["error"].as_str().unwrap().starts_with("Template does not parse"), "{}", reply.body);
    assert_eq!(
        api.get("/api/v1/keyword_templates/spam").await.body["body"],
        good,
        "a bad upload changes nothing"
    );
    let reply = api.raw_post("/api/v1/keyword_templates/spam", &auth, "").await;
    assert_eq!(reply.body, json!({"name": "spam", "body": ""}));
    let reply = api.admin(Method::DELETE, "/api/v1/keyword_templates/spam", None).await;
    assert_eq!(reply.body, json!({"name": "spam", "deleted": true}));
    let reply = api.admin(Method::DELETE, "/api/v1/keyword_templates/spam", None).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_NOT_FOUND", "Template not found");
}

#[tokio::test]
async fn muninn_directory_event_replaces_the_trusted_servers() {
    let api = Api::new().await;
    let event = json!({"type": "m.room.message", "content": {"com.muninn-hall.member_directory": {
        "a.example": ["@x:a.example"], "b.example": []}}});
    let reply = api.post("/api/v1/sources/muninn/set_member_directory_event", event.clone()).await;
    assert_eq!(reply.body, json!({"content": event["content"]}));
    let stored = api.state.store.get_trust_data("muninn_hall", "").await.unwrap().unwrap();
    assert_eq!(stored, json!({"server_names": ["a.example", "b.example"]}));
    assert_eq!(api.state.evaluator.trust_cache().get().muninn_servers.len(), 2);
    let reply = api.post("/api/v1/sources/muninn/set_member_directory_event", json!({"content": {}})).await;
    assert_eq!(reply.body["errcode"], "M_BAD_JSON");
}

// ----- verdicts ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn verdict_lookup_shows_the_trace() {
    let api = Api::new().await;
    api.verdict(ROOM, "$spam", VerdictClass::Prohibited, &["org.matrix.msc4456.spam"], 5).await;
    let reply = api.get("/api/v1/verdicts/$spam").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let verdict = &reply.body["verdicts"][0];
    assert_eq!(verdict["class"], "prohibited");
    assert_eq!(verdict["harms"], json!(["org.matrix.msc4456.spam"]));
    assert_eq!(verdict["trace"][0]["filter"], "keyword");
    assert!(verdict["trace"][0]["reason"].as_str().unwrap().contains("spammy spam"));
    assert_eq!(api.get(&format!("/api/v1/verdicts/$spam?room_id={ROOM}")).await.status, StatusCode::OK);
    let reply = api.get("/api/v1/verdicts/$spam?room_id=!other:x").await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_NOT_FOUND", "Verdict not found");
    let reply = api.get("/api/v1/verdicts/$missing").await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_NOT_FOUND", "Verdict not found");
}

#[tokio::test]
async fn community_decisions_page_filter_and_count() {
    let api = Api::new().await;
    let id = api.community("Decisions").await;
    api.room(ROOM, &id).await;
    api.room("!other:x", &id).await;
    let spam = "org.matrix.msc4456.spam";
    let flood = "org.matrix.policyserv.flooding";
    api.verdict(ROOM, "$1", VerdictClass::Neutral, &[], 1_000).await;
    api.verdict(ROOM, "$2", VerdictClass::Prohibited, &[spam], 2_000).await;
    api.verdict("!other:x", "$3", VerdictClass::Prohibited, &[flood], 3_000).await;
    api.verdict(ROOM, "$4", VerdictClass::Prohibited, &[spam, flood], 4_000).await;
    api.verdict(ROOM, "$5", VerdictClass::Allowed, &[], 5_000).await;
    let uri = format!("/api/v1/communities/{id}/verdicts");
    let ids = |body: &Value| -> Vec<String> {
        body["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["event_id"].as_str().unwrap().to_owned())
            .collect()
    };

    let page = api.get(&format!("{uri}?limit=2")).await.body;
    assert_eq!(ids(&page), ["$5", "$4"]);
    let next = page["next_batch"].as_str().unwrap();
    let page = api.get(&format!("{uri}?limit=2&from={}", urlencode(next))).await.body;
    assert_eq!(ids(&page), ["$3", "$2"]);
    let page = api
        .get(&format!("{uri}?limit=2&from={}", urlencode(page["next_batch"].as_str().unwrap())))
        .await
        .body;
    assert_eq!(ids(&page), ["$1"]);
    assert!(page.get("next_batch").is_none());

    assert_eq!(ids(&api.get(&format!("{uri}?refused_only=true")).await.body), ["$4", "$3", "$2"]);
    assert_eq!(ids(&api.get(&format!("{uri}?harm={flood}")).await.body), ["$4", "$3"]);
    assert_eq!(ids(&api.get(&format!("{uri}?harm={spam}&limit=1")).await.body), ["$4"]);
    assert_eq!(ids(&api.get(&format!("{uri}?room_id=!other:x")).await.body), ["$3"]);
    for bad in ["limit=0", "limit=501", "limit=x", "from=garbage", "refused_only=maybe"] {
        let reply = api.get(&format!("{uri}?{bad}")).await;
        assert_eq!(
            (reply.status, reply.body["errcode"].as_str()),
            (StatusCode::BAD_REQUEST, Some("M_INVALID_PARAM")),
            "{bad}"
        );
    }

    let stats = api.get(&format!("/api/v1/communities/{id}/stats?since=2000&until=5000")).await.body;
    assert_eq!(
        stats,
        json!({"community_id": id, "since": 2000, "until": 5000, "neutral": 0, "allowed": 0, "refused": 3,
               "harms": {flood: 2, spam: 2}})
    );
    let stats = api.get(&format!("/api/v1/communities/{id}/stats?since=0&until=10000")).await.body;
    assert_eq!((stats["neutral"].as_u64(), stats["allowed"].as_u64()), (Some(1), Some(1)));
    let reply = api.get(&format!("/api/v1/communities/{id}/stats?since=10&until=5")).await;
    assert_eq!(reply.body["errcode"], "M_INVALID_PARAM");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ----- community API (§8.8 #77–79) ---------------------------------------------------------------------------

async fn community_with_token(api: &Api, config: Value, self_join: Option<bool>) -> (String, String) {
    let id = api.community("Token holders").await;
    api.post(&format!("/api/v1/communities/{id}/config"), config).await;
    if let Some(allowed) = self_join {
        api.admin(
            Method::PATCH,
            &format!("/api/v1/communities/{id}"),
            Some(json!({"can_self_join_rooms": allowed})),
        )
        .await;
    }
    let reply = api.post(&format!("/api/v1/communities/{id}/rotate_access_token"), json!({})).await;
    (id, format!("Bearer {}", reply.body["new_access_token"].as_str().unwrap()))
}

#[tokio::test]
async fn community_token_auth() {
    let api = Api::new().await;
    for auth in ["", "Bearer ", "Bearer pst_unknown", KEY, &format!("Bearer {KEY}")] {
        let reply = api.raw_post("/_policyserv/v1/check/text", auth, "hello").await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED", "Not allowed");
    }
    let reply = api.send(Method::POST, "/_policyserv/v1/check/event_id", None, Body::from("{}")).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED", "Not allowed");
}

#[tokio::test]
async fn check_text_uses_the_callers_keywords() {
    let api = Api::new().await;
    let (_, auth) =
        community_with_token(&api, json!({"keyword_filter_keywords": ["keyword1", "keyword2"]}), None).await;
    let reply =
        api.raw_post("/_policyserv/v1/check/text", &auth, "this text contains keyword1 and more").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "ORG.MATRIX.MSC4387_SAFETY", "Text is probably spammy");
    assert_eq!(reply.body["org.matrix.msc4387.harms"], json!(["org.matrix.msc4456.spam"]));
    let reply = api.raw_post("/_policyserv/v1/check/text", &auth, "perfectly fine text").await;
    assert_eq!((reply.status, reply.body.clone()), (StatusCode::OK, json!({})));
    // The instance keyword is overridden by the community's list.
    let reply = api.raw_post("/_policyserv/v1/check/text", &auth, "instancespam").await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn check_event_id_answers_stored_verdicts_exactly() {
    let api = Api::new().await;
    let (_, auth) = community_with_token(&api, json!({}), None).await;
    api.verdict(ROOM, "$spam", VerdictClass::Prohibited, &["org.matrix.msc4456.spam"], 1).await;
    api.verdict(ROOM, "$fine", VerdictClass::Neutral, &[], 1).await;
    let reply = api.raw_post("/_policyserv/v1/check/event_id", &auth, r#"{"event_id":"$spam"}"#).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "M_FORBIDDEN",
        "This message is not allowed by the policy server",
    );
    assert_eq!(reply.body["org.matrix.msc4387.harms"], json!(["org.matrix.msc4456.spam"]));
    // policyserv read cached neutral verdicts back as spam (catalogue §11.1).
    let reply = api.raw_post("/_policyserv/v1/check/event_id", &auth, r#"{"event_id":"$fine"}"#).await;
    assert_eq!((reply.status, reply.body.clone()), (StatusCode::OK, json!({})));
    let reply = api.raw_post("/_policyserv/v1/check/event_id", &auth, r#"{"event_id":"$unknown"}"#).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_NOT_FOUND", "Event not found");
    let reply = api.raw_post("/_policyserv/v1/check/event_id", &auth, "{}").await;
    assert_eq!(reply.body["errcode"], "M_BAD_JSON");
}

#[tokio::test]
async fn self_join_needs_permission() {
    let api = Api::new().await;
    for permission in [None, Some(false)] {
        let (_, auth) = community_with_token(&api, json!({}), permission).await;
        let reply = api.raw_post(&format!("/_policyserv/v1/join/{ROOM}"), &auth, "").await;
        assert_error(
            &reply,
            StatusCode::FORBIDDEN,
            "M_FORBIDDEN",
            "This community cannot self-serve add rooms",
        );
    }
    let (id, auth) = community_with_token(&api, json!({}), Some(true)).await;
    api.room(ROOM, &id).await;
    let reply = api.raw_post(&format!("/_policyserv/v1/join/{ROOM}"), &auth, "").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "M_BAD_STATE", "Room already exists");
}

// ----- the setup bot's calls ---------------------------------------------------------------------------------

/// policyserv-setup-bot: create community → (room not protected yet) → join room → get room → set config → get
/// instance config, reading the fields the bot reads. The join itself needs a homeserver (covered by the Synapse
/// interop suite); here the room is protected the way a successful join leaves it.
#[tokio::test]
async fn setup_bot_flow() {
    let api = Api::new().await;
    let created = api.post("/api/v1/communities/new", json!({"name": "My Community"})).await;
    assert_eq!(created.status, StatusCode::OK);
    let community_id = created.body["community_id"].as_str().unwrap().to_owned();

    let fetched = api.get(&format!("/api/v1/communities/{community_id}")).await;
    assert_eq!(fetched.body["community_id"], community_id.as_str());
    assert_eq!(fetched.body["name"], "My Community");
    assert!(fetched.body["config"].is_object());

    // `apply`: 404 means not protected yet.
    let reply = api.get(&format!("/api/v1/rooms/{ROOM}")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // ✅: the join call; its error path is the same route (success needs a homeserver).
    let reply = api.post(&format!("/api/v1/rooms/{ROOM}/join"), json!({"community_id": "not-yet"})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    api.room(ROOM, &community_id).await;
    let reply = api.post(&format!("/api/v1/rooms/{ROOM}/join"), json!({"community_id": community_id})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "M_BAD_STATE", "Room already exists");
    let room = api.get(&format!("/api/v1/rooms/{ROOM}")).await;
    assert_eq!(room.status, StatusCode::OK);
    assert_eq!(room.body["community_id"], community_id.as_str());
    assert_eq!(room.body["room_id"], ROOM);

    // `set keywords a,b` then `set max_mentions 5`: the bot sends the whole config each time.
    let mut config = fetched.body["config"].clone();
    config["keyword_filter_keywords"] = json!(["a", "b"]);
    let reply = api.post(&format!("/api/v1/communities/{community_id}/config"), config.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    config["mention_filter_max_mentions"] = json!(5);
    let reply = api.post(&format!("/api/v1/communities/{community_id}/config"), config.clone()).await;
    assert_eq!(reply.body["config"], config);
    assert_eq!(api.get(&format!("/api/v1/communities/{community_id}")).await.body["config"], config);

    // `config`: each value next to the instance default.
    let instance = api.get("/api/v1/instance/community_config").await;
    assert_eq!(instance.status, StatusCode::OK);
    assert_eq!(instance.body["mention_filter_max_mentions"], 20);
    assert_eq!(instance.body["keyword_filter_keywords"], json!(["instancespam"]));
}

// ----- OpenAPI -----------------------------------------------------------------------------------------------

#[tokio::test]
async fn openapi_document_lists_exactly_the_routes() {
    let document: Value = serde_json::from_str(openapi::DOCUMENT).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                documented.insert((method.to_owned(), path.clone()));
            }
        }
    }
    let mut routed: std::collections::BTreeSet<(String, String)> = ADMIN_ROUTES
        .iter()
        .chain(COMMUNITY_ROUTES)
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    routed.insert(("get".to_owned(), openapi::PATH.to_owned()));
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "undocumented routes {missing:?}; documented but not routed {extra:?}"
    );
    // Every `$ref` resolves.
    let text = openapi::DOCUMENT;
    for reference in text.split("\"$ref\": \"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(document["components"]["schemas"].get(name).is_some(), "dangling $ref {name}");
    }
    // Served as is.
    let api = Api::new().await;
    let reply = api.send(Method::GET, openapi::PATH, None, Body::empty()).await;
    assert_eq!(reply.body, document);
}

#[tokio::test]
async fn every_community_route_is_bound() {
    let api = Api::new().await;
    for (method, path) in COMMUNITY_ROUTES {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let reply = api.send(method, &concrete(path), Some("Bearer pst_x"), Body::empty()).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED", "Not allowed");
    }
}
