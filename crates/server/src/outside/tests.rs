//! The outside-service clients against small local fake servers, and the `/sign` decision with them wired into
//! the evaluator over a real (in-memory SQLite) store.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_federation::{NetworkPolicy, StaticResolver};
use palisade_matrix::{CanonicalObject, event_id::room_id_from_create_event};
use palisade_policy::handles::{MediaScanner, TextClassifier};
use palisade_policy::mxc::MxcUri;
use palisade_policy::{CommunityConfig, InstanceSettings};
use palisade_store::{JoinState, StateEvent};
use serde_json::{Value, json};

use super::fake::{FakeService, Recorded, Reply};
use super::*;
use crate::sign::test_room::{ORIGIN, Room12, US, protected_room, signed, v12};
use crate::sign::{Evaluator, SignOutcome};

const OPENAI_KEY: &str = "sk-test-key";
const HMA_KEY: &str = "hma-test-key";
const MEDIA_TOKEN: &str = "syt_media_token";
const MUNINN_KEY: &str = "muninn-test-key";

const OTHER: &str = "org.matrix.msc4456.other";
const SPAM: &str = "org.matrix.msc4456.spam";
const CSAM: &str = "org.matrix.msc4456.child_safety.csam";
const FLOODING: &str = "org.matrix.msc4456.spam.flooding";
const PS_MEDIA: &str = "org.matrix.policyserv.media";

/// A client allowed to reach the fakes on loopback (as an operator allowlists a private HMA instance).
fn loopback_http() -> OutsideHttp {
    http_with(vec!["127.0.0.1/32".parse().unwrap()], StaticResolver::new(), Duration::from_secs(5))
}

fn http_with(exempt: Vec<ipnet::IpNet>, resolver: StaticResolver, timeout: Duration) -> OutsideHttp {
    let guard = Arc::new(AddressGuard::new(NetworkPolicy::default(), exempt));
    OutsideHttp::new(guard, Arc::new(resolver), timeout).unwrap()
}

/// Fake OpenAI: flags "buy", flags "minor" with `sexual/minors`, fails on "fail", sleeps on "slow".
async fn fake_openai() -> FakeService {
    FakeService::start(|request: &Recorded| {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let input = body["input"].as_str().unwrap_or_default().to_owned();
        let result = |flagged: bool, minors: bool| {
            Reply::json(json!({"id": "modr-1", "model": "omni-moderation-latest", "results": [{
                "flagged": flagged,
                "categories": {"sexual": minors, "sexual/minors": minors, "harassment": false, "spam": null},
                "category_scores": {"sexual": 0.1, "sexual/minors": if minors { 0.9 } else { 0.0 }},
            }]}))
        };
        if input.contains("fail") {
            Reply::status(500)
        } else if input.contains("slow") {
            result(false, false).after(Duration::from_secs(3))
        } else if input.contains("huge") {
            Reply::bytes(vec![b' '; 300 * 1024])
        } else {
            result(input.contains("buy") || input.contains("minor"), input.contains("minor"))
        }
    })
    .await
}

/// §8.9 #81 at the HTTP level: request shape, flagged, `sexual/minors`, unflagged, 5xx, oversized answers.
#[tokio::test]
async fn openai_request_shape_and_answers() {
    let fake = fake_openai().await;
    let classifier = OpenAiClassifier::new(loopback_http(), &fake.url("/v1/"), OPENAI_KEY);
    let flagged = classifier.classify("@a:example.org says: buy now").await.unwrap();
    assert!(flagged.flagged);
    assert!(flagged.categories.is_empty(), "{flagged:?}");
    let minors = classifier.classify("@a:example.org says: minor").await.unwrap();
    assert!(minors.flagged);
    assert_eq!(minors.categories.iter().collect::<Vec<_>>(), ["sexual", "sexual/minors"]);
    assert!(!classifier.classify("@a:example.org says: hello").await.unwrap().flagged);

    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    let first = &requests[0];
    assert_eq!((first.method.as_str(), first.path.as_str()), ("POST", "/v1/moderations"));
    assert_eq!(first.authorization.as_deref(), Some("Bearer sk-test-key"));
    assert_eq!(first.content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(body, json!({"model": "omni-moderation-latest", "input": "@a:example.org says: buy now"}));

    let error = classifier.classify("fail").await.unwrap_err();
    assert!(error.0.contains("HTTP 500"), "{error}");
    let error = classifier.classify("huge").await.unwrap_err();
    assert!(error.0.contains("larger than"), "{error}");
}

#[tokio::test]
async fn openai_timeouts_are_respected() {
    let fake = fake_openai().await;
    let http =
        http_with(vec!["127.0.0.1/32".parse().unwrap()], StaticResolver::new(), Duration::from_millis(300));
    let classifier = OpenAiClassifier::new(http, &fake.url("/v1"), OPENAI_KEY);
    let started = Instant::now();
    let error = classifier.classify("slow").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(error.0.contains("no answer within"), "{error}");
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowlisted() {
    let fake = fake_openai().await;
    let port = fake.address.port();
    let resolver = StaticResolver::new()
        .with_host("openai.internal", IpAddr::from([127, 0, 0, 1]))
        .with_host("metadata.internal", IpAddr::from([169, 254, 169, 254]));
    let guarded = http_with(Vec::new(), resolver.clone(), Duration::from_secs(5));
    let hostile = [
        format!("http://127.0.0.1:{port}/v1"),
        format!("http://openai.internal:{port}/v1"),
        "http://metadata.internal/latest".to_owned(),
        "http://[::1]:9/v1".to_owned(),
        "http://[::ffff:10.0.0.1]/v1".to_owned(),
    ];
    for url in &hostile {
        let classifier = OpenAiClassifier::new(guarded.clone(), url, OPENAI_KEY);
        let error = classifier.classify("buy").await.unwrap_err();
        assert!(error.0.contains("refused to contact") && error.0.contains("denied"), "{url}: {error}");
    }
    let ftp = guarded.checked_url("ftp://example.org/x").unwrap_err();
    assert!(ftp.to_string().contains("not http(s)"), "{ftp}");
    assert!(fake.requests().is_empty(), "a refused address was contacted");

    // Allowlisted for outside services: reachable, by literal and by name.
    let allowed = http_with(vec!["127.0.0.0/8".parse().unwrap()], resolver, Duration::from_secs(5));
    for url in [format!("http://127.0.0.1:{port}/v1"), format!("http://openai.internal:{port}/v1")] {
        let classifier = OpenAiClassifier::new(allowed.clone(), &url, OPENAI_KEY);
        assert!(classifier.classify("buy").await.unwrap().flagged, "{url}");
    }
    assert_eq!(fake.requests().len(), 2);
}

/// Fake homeserver media repository plus HMA: `bad` media hashes to a signal in `csam_bank`, `meh` to one in a
/// bank no community enables, `slow` takes 3 s to download, `big` is larger than the cap; `broken` makes the
/// lookup fail.
async fn fake_hma() -> FakeService {
    FakeService::start(|request: &Recorded| {
        if let Some(media) = request.path.strip_prefix("/_matrix/client/v1/media/download/") {
            return match media.rsplit('/').next().unwrap_or_default() {
                "slow" => Reply::bytes(b"\x89PNG slow".to_vec()).after(Duration::from_secs(3)),
                "big" => Reply::bytes(vec![0; 4096]),
                "video" => {
                    let mut mp4 = vec![0, 0, 0, 24];
                    mp4.extend_from_slice(b"ftypisom\0\0\x02\0isommp41 video-bytes");
                    Reply::bytes(mp4)
                }
                "missing" => Reply::status(404),
                other => Reply::bytes(format!("\u{89}PNG content-{other}").into_bytes()),
            };
        }
        match request.path.as_str() {
            "/hma/h/hash" => {
                let body = String::from_utf8_lossy(&request.body);
                let signal = ["bad", "meh", "broken", "video"]
                    .into_iter()
                    .find(|name| {
                        body.contains(&format!("content-{name}")) || body.contains(&format!("{name}-bytes"))
                    })
                    .unwrap_or("clean");
                Reply::json(json!({"pdq": format!("hash-{signal}")}))
            }
            "/hma/m/lookup" if request.query.contains("hash-broken") => Reply::status(502),
            "/hma/m/lookup" if request.query.contains("hash-bad") => {
                Reply::json(json!({"csam_bank": {"distance": 0}, "other_bank": {}}))
            }
            "/hma/m/lookup" if request.query.contains("hash-meh") => {
                Reply::json(json!({"disabled_bank": {}}))
            }
            "/hma/m/lookup" => Reply::json(json!({})),
            _ => Reply::status(404),
        }
    })
    .await
}

fn hma_scanner(fake: &FakeService, http: OutsideHttp) -> HmaScanner {
    let downloader = MediaDownloader::new(http.clone(), &fake.url(""), Some(MEDIA_TOKEN.to_owned()), 1024);
    HmaScanner::new(http, &fake.url("/hma"), Some(HMA_KEY.to_owned()), downloader)
}

fn mxc(id: &str) -> MxcUri {
    MxcUri::parse(&format!("mxc://{ORIGIN}/{id}")).unwrap()
}

/// §7.3/§7.4 request shapes and §8.4 #40: one download per scanned MXC, errors not cached.
#[tokio::test]
async fn hma_request_shapes_matches_and_cache() {
    let fake = fake_hma().await;
    let scanner = hma_scanner(&fake, loopback_http());
    let bad = scanner.scan("community", &mxc("bad")).await.unwrap();
    assert_eq!(bad.matched_banks.iter().collect::<Vec<_>>(), ["csam_bank", "other_bank"]);

    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    let (download, hash, lookup) = (&requests[0], &requests[1], &requests[2]);
    assert_eq!(download.method, "GET");
    assert_eq!(download.path, format!("/_matrix/client/v1/media/download/{ORIGIN}/bad"));
    assert_eq!(download.authorization.as_deref(), Some("Bearer syt_media_token"));
    assert_eq!((hash.method.as_str(), hash.path.as_str()), ("POST", "/hma/h/hash"));
    assert_eq!(hash.authorization.as_deref(), Some("Bearer hma-test-key"));
    let content_type = hash.content_type.clone().unwrap();
    let boundary = content_type.strip_prefix("multipart/form-data; boundary=").unwrap();
    let form = String::from_utf8_lossy(&hash.body);
    assert!(form.starts_with(&format!("--{boundary}\r\n")), "{form}");
    assert!(form.contains("Content-Disposition: form-data; name=\"photo\"; filename=\"x\""), "{form}");
    assert!(form.contains("content-bad"), "{form}");
    assert_eq!((lookup.method.as_str(), lookup.path.as_str()), ("GET", "/hma/m/lookup"));
    assert_eq!(lookup.query, "signal_type=pdq&signal=hash-bad");
    assert_eq!(lookup.authorization.as_deref(), Some("Bearer hma-test-key"));

    // The same URI again: answered from the cache, nothing downloaded.
    assert_eq!(scanner.scan("another community", &mxc("bad")).await.unwrap(), bad);
    assert_eq!(fake.requests().len(), 3);
    assert!(scanner.scan("community", &mxc("clean")).await.unwrap().matched_banks.is_empty());

    // Videos are hashed as videos.
    scanner.scan("community", &mxc("video")).await.unwrap();
    let video_hash = fake.requests().into_iter().rfind(|r| r.path == "/hma/h/hash").unwrap();
    assert!(String::from_utf8_lossy(&video_hash.body).contains("name=\"video\"; filename=\"x\""));

    // Failures are errors (the filter refuses with `other`) and are not cached.
    let before = fake.requests().len();
    for (id, expected) in [("broken", "HTTP 502"), ("big", "larger than 1024"), ("missing", "HTTP 404")] {
        let error = scanner.scan("community", &mxc(id)).await.unwrap_err();
        assert!(error.0.contains(expected), "{id}: {error}");
    }
    scanner.scan("community", &mxc("broken")).await.unwrap_err();
    assert!(fake.requests().len() > before + 4, "errors must not be cached");
}

#[tokio::test]
async fn hma_behind_a_private_address_is_refused_without_allowlist() {
    let fake = fake_hma().await;
    let scanner = hma_scanner(&fake, http_with(Vec::new(), StaticResolver::new(), Duration::from_secs(5)));
    let error = scanner.scan("community", &mxc("bad")).await.unwrap_err();
    assert!(error.0.contains("refused to contact") && error.0.contains("127.0.0.1"), "{error}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn muninn_directory_is_fetched_cached_and_stored() {
    let fake = FakeService::start(|request: &Recorded| {
        if request.authorization.as_deref() == Some("Bearer muninn-test-key") {
            Reply::json(json!({"muninn.example.org": ["@a:muninn.example.org"], "b.example.org": []}))
        } else {
            Reply::status(401)
        }
    })
    .await;
    let store = palisade_store::open("sqlite::memory:").await.unwrap();
    let cache = TrustCache::default();
    let client = MuninnClient::new(loopback_http(), &fake.url("/directory"), MUNINN_KEY);
    assert_eq!(client.refresh(&cache, store.as_ref()).await, Ok(2));
    assert!(cache.get().muninn_servers.contains("muninn.example.org"));
    let request = &fake.requests()[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("GET", "/directory"));

    // A restart starts from the stored copy.
    let restarted = TrustCache::default();
    restarted.load(store.as_ref()).await.unwrap();
    assert_eq!(restarted.get(), cache.get());

    // A failing poll keeps the previous data.
    let wrong_key = MuninnClient::new(loopback_http(), &fake.url("/directory"), "wrong");
    let error = wrong_key.refresh(&cache, store.as_ref()).await.unwrap_err();
    assert!(error.contains("HTTP 401"), "{error}");
    assert_eq!(cache.get().muninn_servers.len(), 2);
}

// ---- Through `/sign`: the evaluator with outside services, over the store. ----

/// Swaps in an evaluator with `outside` services and the OpenAI filter allowed in the room.
fn use_outside(room: &mut Room12, outside: OutsideServices) {
    let settings = InstanceSettings {
        local_user_id: Some(US.to_owned()),
        classifier_room_ids: vec![room.room_id.clone()],
        ..Default::default()
    };
    room.state.evaluator =
        Arc::new(Evaluator::new(CommunityConfig::default(), settings, Vec::new()).with_outside(outside));
}

/// Sets the room's override layer (hellbans off, so one refusal does not colour the next case).
async fn set_overrides(room: &Room12, mut overrides: Value) {
    overrides["hellban_postfilter_minutes"] = json!(0);
    let mut stored = room.state.store.get_room(&room.room_id).await.unwrap().unwrap();
    stored.overrides = Some(overrides);
    room.state.store.put_room(&stored).await.unwrap();
}

fn image(room: &Room12, sender: &str, url: &str, depth: i64) -> CanonicalObject {
    signed(json!({
        "type": "m.room.message", "room_id": room.room_id, "sender": sender,
        "origin_server_ts": 1_700_000_000_000_i64 + depth, "depth": depth, "prev_events": ["$p"],
        "auth_events": ["$a"], "content": {"msgtype": "m.image", "body": "pic.png", "url": url},
    }))
}

fn harms_of(outcome: &SignOutcome) -> Vec<String> {
    match outcome {
        SignOutcome::Refused { harms, .. } => harms.clone(),
        SignOutcome::Signed { .. } => Vec::new(),
    }
}

/// §8.9 #81 end to end: spam, spam + csam, neutral; a 500 refuses with `other` when fail-secure, signs when not.
#[tokio::test]
async fn sign_uses_openai_and_follows_fail_secure_and_fail_open() {
    let fake = fake_openai().await;
    let mut room = protected_room().await;
    let classifier = Arc::new(OpenAiClassifier::new(loopback_http(), &fake.url("/v1"), OPENAI_KEY));
    use_outside(&mut room, OutsideServices { classifier: Some(classifier), ..Default::default() });
    set_overrides(&room, json!({})).await;

    let cases = [
        ("hello there", Vec::<&str>::new()),
        ("buy followers", vec![SPAM]),
        ("minor content", vec![CSAM, SPAM]),
        ("this will fail", vec![OTHER]),
    ];
    for (depth, (body, want)) in (20..).zip(cases) {
        let outcome = room.sign(&room.message(body, depth)).await.unwrap();
        assert_eq!(harms_of(&outcome), want, "{body}");
    }
    assert!(fake.requests().iter().any(|r| String::from_utf8_lossy(&r.body).contains("says: buy followers")));

    set_overrides(&room, json!({"openai_filter_fail_secure": false})).await;
    let outcome = room.sign(&room.message("this will fail again", 30)).await.unwrap();
    assert!(outcome.is_signed(), "fail-open must sign: {outcome:?}");
}

#[tokio::test]
async fn a_slow_service_never_holds_the_answer_past_the_budget() {
    let fake = fake_openai().await;
    let mut room = protected_room().await;
    let classifier = Arc::new(OpenAiClassifier::new(loopback_http(), &fake.url("/v1"), OPENAI_KEY));
    let budget = Duration::from_millis(400);
    use_outside(&mut room, OutsideServices { classifier: Some(classifier), budget, ..Default::default() });
    set_overrides(&room, json!({})).await;

    let started = Instant::now();
    let outcome = room.sign(&room.message("slow answer", 20)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "held for {:?}", started.elapsed());
    assert_eq!(harms_of(&outcome), [OTHER], "fail-secure refuses");

    set_overrides(&room, json!({"openai_filter_fail_secure": false})).await;
    let started = Instant::now();
    let outcome = room.sign(&room.message("slow answer again", 21)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "held for {:?}", started.elapsed());
    assert!(outcome.is_signed(), "fail-open signs: {outcome:?}");
}

/// §8.4 #40 end to end: a bank match refuses, a disabled bank does not, a download slower than the budget
/// refuses with `other` (policyserv: after 30 s) without holding the answer.
#[tokio::test]
async fn sign_scans_media_with_hma_within_the_budget() {
    let fake = fake_hma().await;
    let mut room = protected_room().await;
    let scanner = Arc::new(hma_scanner(&fake, loopback_http()));
    let budget = Duration::from_millis(500);
    use_outside(&mut room, OutsideServices { scanner: Some(scanner), budget, ..Default::default() });
    // Media allowed in this room, scanned against the enabled bank.
    set_overrides(
        &room,
        json!({"media_filter_media_types": [], "untrusted_media_filter_media_types": [],
               "hma_filter_enabled_banks": ["csam_bank"]}),
    )
    .await;
    let alice = format!("@alice:{ORIGIN}");
    let url = |id: &str| format!("mxc://{ORIGIN}/{id}");
    let clean = room.sign(&image(&room, &alice, &url("fine"), 20)).await.unwrap();
    assert!(clean.is_signed(), "{clean:?}");
    let bad = room.sign(&image(&room, &alice, &url("bad"), 21)).await.unwrap();
    assert_eq!(harms_of(&bad), [CSAM, SPAM, PS_MEDIA]);
    let disabled_bank = room.sign(&image(&room, &alice, &url("meh"), 22)).await.unwrap();
    assert!(disabled_bank.is_signed(), "{disabled_bank:?}");
    let started = Instant::now();
    let slow = room.sign(&image(&room, &alice, &url("slow"), 23)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "held for {:?}", started.elapsed());
    assert_eq!(harms_of(&slow), [OTHER], "HMA is always fail-secure (catalogue §3.3)");
}

/// §6.3 and §8.5 #47 end to end: the polled directory trusts its servers' users for the untrusted-media filter.
#[tokio::test]
async fn muninn_members_may_post_media_in_untrusted_media_rooms() {
    let mut room = protected_room().await;
    let trust = TrustCache::default();
    use_outside(&mut room, OutsideServices { trust: trust.clone(), ..Default::default() });
    set_overrides(&room, json!({"media_filter_media_types": []})).await;
    let url = format!("mxc://{ORIGIN}/pic");
    let sender = format!("@x:{ORIGIN}");
    let untrusted = room.sign(&image(&room, &sender, &url, 20)).await.unwrap();
    assert_eq!(harms_of(&untrusted), [SPAM, PS_MEDIA]);
    // The poller learns that the origin is a Muninn Hall member: its users' next media is trusted.
    trust.set(palisade_policy::trust::TrustData::from_member_directory(&json!({ORIGIN: []})));
    let trusted = room.sign(&image(&room, &sender, &url, 21)).await.unwrap();
    assert!(trusted.is_signed(), "{trusted:?}");
}

/// A second joined room protected by us, in the same (`default`) community.
async fn sibling_of(room: &Room12) -> Room12 {
    let create = signed(json!({
        "type": "m.room.create", "state_key": "", "sender": format!("@alice:{ORIGIN}"), "origin_server_ts": 2,
        "depth": 1, "prev_events": [], "auth_events": [], "content": {"room_version": "12"},
    }));
    let room_id = room_id_from_create_event(&create, &v12()).unwrap().to_string();
    assert_ne!(room_id, room.room_id);
    let mut stored = room.state.store.get_room(&room.room_id).await.unwrap().unwrap();
    stored.room_id = room_id.clone();
    stored.overrides = None;
    stored.join_state = JoinState::Joined;
    room.state.store.put_room(&stored).await.unwrap();
    let sibling = Room12 { state: room.state.clone(), room_id };
    let policy = crate::sign::test_room::our_policy(&sibling.state);
    sibling.put_state("m.room.policy", "", policy.stable_content(), 3).await;
    sibling.put_state("m.room.member", US, json!({"membership": "join"}), 10).await;
    sibling
}

/// Done-when: a room override that allows media in one room of a community leaves media refused in its
/// sibling room — end to end over the store, the evaluator and the engine.
#[tokio::test]
async fn room_override_allows_media_in_one_room_only() {
    let room = protected_room().await;
    let sibling = sibling_of(&room).await;
    let community = room.state.store.get_room(&sibling.room_id).await.unwrap().unwrap().community_id;
    assert_eq!(community, room.state.store.get_room(&room.room_id).await.unwrap().unwrap().community_id);
    set_overrides(&room, json!({"media_filter_media_types": [], "untrusted_media_filter_media_types": []}))
        .await;
    let url = format!("mxc://{ORIGIN}/pic");
    let here = room.sign(&image(&room, &format!("@alice:{ORIGIN}"), &url, 20)).await.unwrap();
    assert!(here.is_signed(), "{here:?}");
    let there = sibling.sign(&image(&sibling, &format!("@bob:{ORIGIN}"), &url, 20)).await.unwrap();
    // Refused by the media filters (plus the hellban that follows any refusal there).
    assert_eq!(harms_of(&there), [SPAM, FLOODING, PS_MEDIA]);
}

/// Policy-list rules come from the stored state of the list rooms at each check, so a rule the room-state
/// tracker stores (e.g. from a `/send` PDU) applies to the next event, joins included.
#[tokio::test]
async fn policy_list_rules_are_read_from_stored_state_at_each_check() {
    let room = protected_room().await;
    let list = "!list:example.org";
    set_overrides(&room, json!({"policy_list_room_ids": [list]})).await;
    // The list room is known to the store (the tracker keeps its state like any joined room's).
    let mut list_room = room.state.store.get_room(&room.room_id).await.unwrap().unwrap();
    list_room.room_id = list.to_owned();
    list_room.overrides = None;
    room.state.store.put_room(&list_room).await.unwrap();
    let put_rule = |event_type: &'static str, entity: &'static str, recommendation: &'static str| {
        let store = room.state.store.clone();
        async move {
            let event = json!({"type": event_type, "state_key": entity, "room_id": list, "sender": "@mod:example.org",
                "content": {"entity": entity, "recommendation": recommendation, "reason": "spam"}});
            let row = StateEvent {
                event_type: event_type.to_owned(),
                state_key: entity.to_owned(),
                event_id: format!("${event_type}{entity}"),
                event,
            };
            store.put_state_events(list, &[row]).await.unwrap();
        }
    };
    let spammer = format!("@spammer1:{ORIGIN}");
    assert!(room.sign(&room.message_from(&spammer, "hello", 20)).await.unwrap().is_signed());
    // Legacy type, `?` glob.
    put_rule("org.matrix.mjolnir.rule.user", "@spammer?:origin.example.org", "m.ban").await;
    let refused = room.sign(&room.message_from(&spammer, "hello again", 21)).await.unwrap();
    assert_eq!(harms_of(&refused), [OTHER]);
    // A join by a banned user is refused too.
    let join = signed(json!({
        "type": "m.room.member", "state_key": format!("@spammer2:{ORIGIN}"), "room_id": room.room_id,
        "sender": format!("@spammer2:{ORIGIN}"), "origin_server_ts": 1_700_000_000_100_i64, "depth": 22,
        "prev_events": ["$p"], "auth_events": ["$a"], "content": {"membership": "join"},
    }));
    assert_eq!(harms_of(&room.sign(&join).await.unwrap()), [OTHER]);
    // A server rule, matched case-insensitively.
    let bystander = format!("@bystander:{ORIGIN}");
    assert!(room.sign(&room.message_from(&bystander, "hi", 23)).await.unwrap().is_signed());
    put_rule("m.policy.rule.server", "ORIGIN.Example.ORG", "m.ban").await;
    let banned = room.sign(&room.message_from(&bystander, "hi again", 24)).await.unwrap();
    assert_eq!(harms_of(&banned), [OTHER]);
}

/// A CA and a `localhost` leaf as PEM files: (CA, chain, key).
fn pki(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf =
        CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&leaf_key, &issuer).unwrap();
    let paths = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, leaf.pem()).unwrap();
    std::fs::write(&paths.2, leaf_key.serialize_pem()).unwrap();
    paths
}

/// Without a media access token, media comes over federation from its origin (authenticated media): a signed
/// `GET /_matrix/federation/v1/media/download/{mediaId}`, a `multipart/mixed` answer, and a `Location` part
/// fetched through the guarded client.
#[tokio::test]
async fn media_is_downloaded_over_federation_from_the_origin() {
    use palisade_federation::{FederationClient, FederationConfig};

    let cdn = FakeService::start(|_: &Recorded| Reply::bytes(b"cdn-bytes".to_vec())).await;
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki(dir.path());
    let tls = crate::tls::load_server_config(&cert, &key).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener = crate::tls::TlsListener::new(tcp, tls).unwrap();
    let address = axum::serve::Listener::local_addr(&listener).unwrap();
    let seen: Arc<std::sync::Mutex<Vec<(String, String)>>> = Arc::default();
    let log = seen.clone();
    let cdn_url = cdn.url("/cdn/1");
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (log, cdn_url) = (log.clone(), cdn_url.clone());
        async move {
            let path = request.uri().path().to_owned();
            let auth = request
                .headers()
                .get(::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            log.lock().unwrap().push((path.clone(), auth));
            let content = if path.ends_with("/moved") {
                format!("Location: {cdn_url}\r\n\r\n")
            } else if path.ends_with("/metadata") {
                "Location: http://169.254.169.254/latest/meta-data\r\n\r\n".to_owned()
            } else {
                "Content-Type: image/png\r\n\r\n\u{89}PNG federated".to_owned()
            };
            let body = format!(
                "--bnd\r\nContent-Type: application/json\r\n\r\n{{}}\r\n--bnd\r\n{content}\r\n--bnd--\r\n"
            );
            axum::response::Response::builder()
                .header(::http::header::CONTENT_TYPE, "multipart/mixed; boundary=bnd")
                .body(axum::body::Body::from(body))
                .unwrap()
        }
    });
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let keys = crate::http::test_support::keys();
    let config = FederationConfig {
        network_policy: NetworkPolicy::from_cidrs(["127.0.0.0/8"], Vec::<&str>::new()).unwrap(),
        extra_ca_files: vec![ca],
        ..FederationConfig::default()
    };
    let resolver = StaticResolver::new().with_host("localhost", IpAddr::from([127, 0, 0, 1]));
    let client = Arc::new(
        FederationClient::new(
            "palisade.example.org".try_into().unwrap(),
            keys.federation.clone(),
            Arc::new(resolver),
            config,
        )
        .unwrap(),
    );
    let downloader = MediaDownloader::over_federation(loopback_http(), client, 1024);
    let origin = format!("localhost:{}", address.port());
    let media = |id: &str| MxcUri::parse(&format!("mxc://{origin}/{id}")).unwrap();
    assert_eq!(downloader.download(&media("abc")).await.unwrap(), "\u{89}PNG federated".as_bytes());
    let (path, auth) = seen.lock().unwrap()[0].clone();
    assert_eq!(path, "/_matrix/federation/v1/media/download/abc");
    assert!(auth.starts_with("X-Matrix ") && auth.contains("origin=\"palisade.example.org\""), "{auth}");
    assert!(auth.contains(&format!("destination=\"{origin}\"")), "{auth}");

    assert_eq!(downloader.download(&media("moved")).await.unwrap(), b"cdn-bytes");
    assert_eq!(cdn.requests()[0].path, "/cdn/1");
    assert_eq!(cdn.requests()[0].authorization, None, "no credentials go to a redirect target");
    let error = downloader.download(&media("metadata")).await.unwrap_err();
    assert!(error.to_string().contains("refused to contact http://169.254.169.254/"), "{error}");
    server.abort();
}
