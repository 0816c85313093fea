//! The policy endpoints over HTTP, through the real router: X-Matrix signed requests, the three answer shapes,
//! and every refusal a homeserver can meet before the filters run.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use http::{Request, StatusCode, header};
use palisade_matrix::{
    CanonicalObject, Pdu, SigningKey, canonical_json,
    signing::{PolicySignature, insert_policy_signature, verify_policy_signature},
    x_matrix::{RequestTarget, sign_request},
};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{
    http::router,
    sign::{
        RateLimiter, RecentBodies,
        test_room::{ORIGIN, Room12, bytes, origin_key, our_policy, protected_room, v12},
    },
};

const STABLE: &str = "/_matrix/policy/v1/sign";
const UNSTABLE: &str = "/_matrix/policy/unstable/org.matrix.msc4284/sign";

/// A `POST` of `body` to `uri`, X-Matrix signed by the origin with `key` for `destination`.
fn post_signed(uri: &str, body: Vec<u8>, destination: &str, key: &SigningKey) -> Request<Body> {
    let target = RequestTarget { method: "POST", uri, body: &body };
    let auth =
        sign_request(target, ORIGIN.try_into().unwrap(), destination.try_into().unwrap(), key).unwrap();
    Request::post(uri)
        .header(header::AUTHORIZATION, auth.to_header_value())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap()
}

impl Room12 {
    /// Sends `request` through the router; the status and the body as JSON (one JSON document, or the test fails).
    async fn http(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let raw = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let body = serde_json::from_slice(&raw)
            .unwrap_or_else(|e| panic!("{status}: body is not one JSON document ({e}): {raw:?}"));
        (status, body)
    }

    /// Asks `uri` about `event` as the origin, correctly signed and addressed.
    async fn ask(&self, uri: &str, event: &CanonicalObject) -> (StatusCode, Value) {
        self.http(post_signed(uri, bytes(event), self.state.server_name.as_str(), &origin_key())).await
    }
}

fn event_id(event: &CanonicalObject) -> String {
    Pdu::from_object(event.clone(), &v12()).unwrap().event_id().to_string()
}

fn assert_error(answer: &(StatusCode, Value), status: StatusCode, errcode: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["errcode"], errcode, "{}", answer.1);
    assert!(answer.1["error"].as_str().is_some_and(|e| !e.is_empty()), "{}", answer.1);
}

#[tokio::test]
async fn a_neutral_event_gets_a_policy_signature_homeservers_accept_on_both_paths() {
    let room = protected_room().await;
    for uri in [STABLE, UNSTABLE] {
        let message = room.message(&format!("hello via {uri}"), 20);
        let (status, body) = room.ask(uri, &message).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ours = room.state.server_name.as_str();
        let signature = body[ours]["ed25519:policy_server"].as_str().unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        let mut signed = message.clone();
        insert_policy_signature(
            &mut signed,
            &PolicySignature { server_name: ours.to_owned(), signature: signature.to_owned() },
        );
        verify_policy_signature(&signed, &v12(), &our_policy(&room.state)).unwrap();
    }
}

#[tokio::test]
async fn spam_is_refused_with_harms_on_the_stable_path_and_an_empty_object_on_the_unstable_one() {
    let room = protected_room().await;
    let spam = room.message("buy spammy spam now", 20);
    let stable = room.ask(STABLE, &spam).await;
    assert_error(&stable, StatusCode::BAD_REQUEST, "M_FORBIDDEN");
    let harms = stable.1["harms"].as_array().unwrap();
    assert!(!harms.is_empty(), "{}", stable.1);
    assert_eq!(stable.1["org.matrix.msc4387.harms"], stable.1["harms"]);
    assert!(stable.1.get("expiry").is_none(), "a keyword verdict is not time-bound: {}", stable.1);

    assert_eq!(room.ask(UNSTABLE, &spam).await, (StatusCode::OK, json!({})));
}

#[tokio::test]
async fn the_legacy_check_recommends_and_insists_on_the_event_it_was_asked_about() {
    let room = protected_room().await;
    let hello = room.message("hello", 20);
    let spam = room.message("buy spammy spam now", 21);
    let check = |event: &CanonicalObject| {
        format!("/_matrix/policy/unstable/org.matrix.msc4284/event/{}/check", event_id(event))
    };
    assert_eq!(room.ask(&check(&hello), &hello).await, (StatusCode::OK, json!({"recommendation": "ok"})));
    assert_eq!(room.ask(&check(&spam), &spam).await, (StatusCode::OK, json!({"recommendation": "spam"})));
    assert_error(&room.ask(&check(&spam), &hello).await, StatusCode::BAD_REQUEST, "M_BAD_JSON");
}

#[tokio::test]
async fn over_the_rate_limit_callers_are_told_when_to_come_back() {
    let mut room = protected_room().await;
    room.state.sign_limiter = Arc::new(RateLimiter::new(1, 2));
    for depth in [20, 21] {
        assert_eq!(room.ask(STABLE, &room.message("hi", depth)).await.0, StatusCode::OK);
    }
    let limited = room.ask(STABLE, &room.message("hi", 22)).await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED");
    let retry_after = limited.1["retry_after_ms"].as_u64().unwrap();
    assert!((1..=1000).contains(&retry_after), "{}", limited.1);
}

#[tokio::test]
async fn requests_not_for_us_or_not_signed_by_the_origin_are_unauthorized() {
    let room = protected_room().await;
    let message = bytes(&room.message("hello", 20));
    let elsewhere = post_signed(STABLE, message.clone(), "someone-else.example.org", &origin_key());
    assert_error(&room.http(elsewhere).await, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");

    let forger =
        SigningKey::from_seed(&[9; 32], origin_key().key_id().trim_start_matches("ed25519:")).unwrap();
    let forged = post_signed(STABLE, message.clone(), room.state.server_name.as_str(), &forger);
    assert_error(&room.http(forged).await, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");

    let anonymous = Request::post(STABLE).body(Body::from(message)).unwrap();
    assert_error(&room.http(anonymous).await, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");
}

#[tokio::test]
async fn bodies_that_are_not_a_valid_pdu_are_refused_before_any_signature() {
    let room = protected_room().await;
    let ours = room.state.server_name.to_string();
    let ask_raw = |body: Vec<u8>| room.http(post_signed(STABLE, body, &ours, &origin_key()));
    // X-Matrix signs the body as JSON, so a body that is not JSON cannot carry a valid signature: it is told
    // what is wrong with it rather than that the signature failed.
    let (parts, _) = post_signed(STABLE, b"{}".to_vec(), &ours, &origin_key()).into_parts();
    let not_json = Request::from_parts(parts, Body::from("{not json"));
    assert_error(&room.http(not_json).await, StatusCode::BAD_REQUEST, "M_NOT_JSON");

    let mut tampered = room.message("original", 20);
    let swapped = canonical_json::from_value(json!({"content": {"body": "swapped"}})).unwrap();
    tampered.insert("content".to_owned(), swapped["content"].clone());
    assert_error(&ask_raw(bytes(&tampered)).await, StatusCode::BAD_REQUEST, "M_BAD_JSON");

    // `unsigned` is outside the content hash and the signatures: only the size limit can catch this one.
    let mut padded = room.message("hello", 20);
    let unsigned = canonical_json::from_value(json!({"unsigned": {"padding": "a".repeat(70_000)}})).unwrap();
    padded.insert("unsigned".to_owned(), unsigned["unsigned"].clone());
    assert_error(&ask_raw(bytes(&padded)).await, StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE");
}

#[tokio::test]
async fn unknown_rooms_are_not_found_and_acl_denied_callers_are_forbidden() {
    let room = protected_room().await;
    let mut elsewhere = room.message("hello", 20);
    elsewhere.insert("room_id".to_owned(), "!unknown:origin.example.org".to_owned().into());
    assert_error(&room.ask(STABLE, &elsewhere).await, StatusCode::NOT_FOUND, "M_NOT_FOUND");

    room.put_state("m.room.server_acl", "", json!({"allow": ["*"], "deny": [ORIGIN]}), 30).await;
    assert_error(&room.ask(STABLE, &room.message("hello", 31)).await, StatusCode::FORBIDDEN, "M_FORBIDDEN");
}

#[tokio::test]
async fn other_methods_get_a_matrix_405() {
    let room = protected_room().await;
    let get = Request::get(STABLE).body(Body::empty()).unwrap();
    assert_error(&room.http(get).await, StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED");
}

#[tokio::test]
async fn decisions_and_harms_are_counted_in_the_metrics() {
    use crate::metrics::{self, Metrics};

    let room = protected_room().await;
    let metrics = Metrics::new().unwrap();
    let app = router(room.state.clone())
        .layer(axum::middleware::from_fn_with_state(metrics.clone(), metrics::track));
    let ours = room.state.server_name.to_string();
    for (depth, body) in [(20, "hello"), (21, "buy spammy spam now")] {
        let request = post_signed(STABLE, bytes(&room.message(body, depth)), &ours, &origin_key());
        app.clone().oneshot(request).await.unwrap();
    }
    let text = metrics.render();
    assert!(text.contains(r#"policyserv_event_checks{status="ok",verdict="signed"} 1"#), "{text}");
    assert!(text.contains(r#"policyserv_event_checks{status="ok",verdict="refused"} 1"#), "{text}");
    assert!(text.contains(r#"policyserv_event_classifications{classification="#), "{text}");
}

#[tokio::test]
async fn when_too_many_requests_are_in_progress_new_ones_are_shed_before_any_work() {
    use crate::sign::LoadShedder;

    let mut room = protected_room().await;
    room.state.sign_shedder = LoadShedder::new(1);
    let busy = room.state.sign_shedder.enter().unwrap();
    let shed = room.ask(STABLE, &room.message("hello", 20)).await;
    assert_error(&shed, StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED");
    assert!(shed.1["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{}", shed.1);
    let ready = room.http(Request::get("/ready").body(Body::empty()).unwrap()).await;
    assert_eq!(ready.0, StatusCode::SERVICE_UNAVAILABLE, "{}", ready.1);

    drop(busy);
    assert_eq!(room.ask(STABLE, &room.message("hello", 20)).await.0, StatusCode::OK);
    assert_eq!(room.state.sign_shedder.in_flight(), 0, "the admitted request left");
}

#[tokio::test]
async fn a_refusal_carries_the_communitys_own_message() {
    let room = protected_room().await;
    let spam = room.message("buy spammy spam now", 20);
    let generic = room.ask(STABLE, &spam).await;
    assert_error(&generic, StatusCode::BAD_REQUEST, "M_FORBIDDEN");

    let rules = "Refused by #community:example.org's filters; see https://example.org/rules";
    let community = room.state.store.get_room(&room.room_id).await.unwrap().unwrap().community_id;
    room.state.store.set_community_config(&community, &json!({"refusal_message": rules})).await.unwrap();
    let worded = room.ask(STABLE, &room.message("buy spammy spam now", 21)).await;
    assert_error(&worded, StatusCode::BAD_REQUEST, "M_FORBIDDEN");
    assert_eq!(worded.1["error"], rules, "{}", worded.1);
    assert_ne!(generic.1["error"], rules);
}

/// A decided `/sign` shows in the pipeline's metrics: its decision time, each filter's time, the verdict lookup and
/// commit, and the signature batch its checks were in.
#[tokio::test]
async fn a_decision_is_measured_inside_the_pipeline() {
    let room = protected_room().await;
    let metrics = crate::metrics::Metrics::new().unwrap();
    let sample = |name: &str| {
        let text = metrics.render();
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|count| count.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = [
        sample("palisade_sign_decision_seconds_count"),
        sample("palisade_filter_seconds_count{filter=\"keyword\"}"),
        sample("palisade_verdict_store_seconds_count{operation=\"insert\"}"),
        sample("palisade_signature_batch_size_count"),
    ];
    let answer = room.ask(STABLE, &room.message("measured", 20)).await;
    assert_eq!(answer.0, StatusCode::OK, "{answer:?}");
    let after = [
        sample("palisade_sign_decision_seconds_count"),
        sample("palisade_filter_seconds_count{filter=\"keyword\"}"),
        sample("palisade_verdict_store_seconds_count{operation=\"insert\"}"),
        sample("palisade_signature_batch_size_count"),
    ];
    // Other tests of this process may decide at the same time, so each count grew by at least this request's.
    for ((name, before), after) in
        ["decision", "keyword filter", "verdict insert", "signature batches"].iter().zip(before).zip(after)
    {
        assert!(after >= before + 1.0, "{name}: {before} -> {after}");
    }
    assert!(metrics.render().contains("palisade_verdict_queue "), "the queue gauge is exported");
}

/// Every server of a room asks about an event with the same bytes (Synapse writes it as canonical JSON): asked about
/// again, those bytes are kept, and once signed they get the same signature without being parsed, but each ask's
/// X-Matrix signature is still checked, and so is what the room's state now says of the asker.
#[tokio::test]
async fn the_same_bytes_asked_again_are_signed_again_only_while_the_asker_may_ask() {
    let room = protected_room().await;
    let ours = room.state.server_name.to_string();
    let message = room.message("fanned out", 20);
    let body = bytes(&message);
    let kept = || room.state.evaluator.recent_bodies().get(&RecentBodies::hash(&body));
    let first = room.ask(STABLE, &message).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert!(kept().is_none(), "asked about once: only its hash is remembered");
    assert_eq!(room.ask(STABLE, &message).await, first, "the same signature");
    let kept = kept().expect("kept when asked about again");
    assert_eq!(kept.canonical(), &body[..], "the bytes were canonical JSON");
    assert_eq!(kept.signed().map(|signed| signed.event_id.clone()), Some(event_id(&message)));
    assert_eq!(room.ask(STABLE, &message).await, first, "from what was kept");
    assert_eq!(room.ask(UNSTABLE, &message).await, first, "on either path");

    let forger =
        SigningKey::from_seed(&[9; 32], origin_key().key_id().trim_start_matches("ed25519:")).unwrap();
    let forged = post_signed(STABLE, body.clone(), &ours, &forger);
    assert_error(&room.http(forged).await, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");

    room.put_state("m.room.server_acl", "", json!({"allow": ["*"], "deny": [ORIGIN]}), 30).await;
    assert_error(&room.ask(STABLE, &message).await, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    room.put_state("m.room.server_acl", "", json!({"allow": ["*"]}), 31).await;
    assert_eq!(room.ask(STABLE, &message).await, first);
    room.put_state("m.room.policy", "", json!({}), 32).await;
    assert_error(&room.ask(STABLE, &message).await, StatusCode::NOT_FOUND, "M_NOT_FOUND");
}

/// Only what was authenticated is kept, a refusal is decided again for each ask (its expiry and its redaction
/// requests depend on the moment and the asker), and bytes that were not canonical JSON keep their canonical form.
#[tokio::test]
async fn only_authenticated_bodies_are_kept_and_only_signatures_are_reused() {
    let room = protected_room().await;
    let ours = room.state.server_name.to_string();
    let recent = |body: &[u8]| room.state.evaluator.recent_bodies().get(&RecentBodies::hash(body));

    let unsent = bytes(&room.message("never authenticated", 20));
    for _ in 0..2 {
        let elsewhere = post_signed(STABLE, unsent.clone(), "someone-else.example.org", &origin_key());
        assert_error(&room.http(elsewhere).await, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");
    }
    assert!(recent(&unsent).is_none());

    // From a sender of its own: a refusal hellbans its sender.
    let spam = room.message_from(&format!("@spammer:{ORIGIN}"), "buy spammy spam now", 21);
    for _ in 0..3 {
        assert_error(&room.ask(STABLE, &spam).await, StatusCode::BAD_REQUEST, "M_FORBIDDEN");
    }
    assert!(recent(&bytes(&spam)).is_some_and(|kept| kept.signed().is_none()));

    let message = room.message("spaced out", 22);
    let spaced = serde_json::to_vec_pretty(&message).unwrap();
    for _ in 0..2 {
        let answer = room.http(post_signed(STABLE, spaced.clone(), &ours, &origin_key())).await;
        assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    }
    assert_eq!(recent(&spaced).unwrap().canonical(), &bytes(&message)[..]);
}
