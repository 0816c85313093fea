//! The `/sign` decision against a real (in-memory SQLite) store: every error row, both answers, and the rule that
//! a verdict never flips.

use std::sync::Arc;

use palisade_matrix::{
    RoomPolicy, canonical_json,
    signing::{insert_policy_signature, verify_policy_signature},
};
use serde_json::json;

use super::{
    SignError, SignOutcome, sign,
    test_room::{ORIGIN, bytes, origin, our_policy, protected_room, signed, v12},
};

#[tokio::test]
async fn neutral_events_are_signed_with_the_policy_key() {
    let room = protected_room().await;
    let message = room.message("hello there", 20);
    let Ok(SignOutcome::Signed { signature, .. }) = room.sign(&message).await else { panic!("not signed") };
    let mut with_signature = message.clone();
    insert_policy_signature(&mut with_signature, &signature);
    verify_policy_signature(&with_signature, &v12(), &our_policy(&room.state)).unwrap();
}

#[tokio::test]
async fn spam_is_refused_with_harms_and_the_answer_never_flips() {
    let room = protected_room().await;
    let spam = room.message("buy spammy spam now", 20);
    let first = room.sign(&spam).await.unwrap();
    let SignOutcome::Refused { harms, .. } = &first else { panic!("signed spam: {first:?}") };
    assert!(harms.iter().any(|h| h == "org.matrix.msc4456.spam"), "{harms:?}");
    // Asked again, by anyone, after a restart (a fresh evaluator on the same store): the same answer.
    assert_eq!(room.sign(&spam).await.unwrap(), first);
    let mut restarted = room.state.clone();
    restarted.evaluator = Arc::new(super::Evaluator::default());
    assert_eq!(sign(&restarted, origin(), &bytes(&spam)).await.unwrap(), first);
    // The sender is now hellbanned: their next harmless message is refused too, with the ban's expiry.
    let after = room.sign(&room.message("hello", 21)).await.unwrap();
    let SignOutcome::Refused { expiry_ms: Some(expiry), .. } = after else {
        panic!("hellban missing: {after:?}")
    };
    assert!(expiry > 1_700_000_000_000, "{expiry}");
    // A neutral event stays neutral on every ask too (policyserv read every cached verdict back as spam).
    let hello = room.message_from("@bob:origin.example.org", "hello", 22);
    let signed_once = room.sign(&hello).await.unwrap();
    assert!(matches!(signed_once, SignOutcome::Signed { .. }), "{signed_once:?}");
    assert_eq!(sign(&restarted, origin(), &bytes(&hello)).await.unwrap(), signed_once);
}

#[tokio::test]
async fn concurrent_asks_get_one_answer() {
    let room = Arc::new(protected_room().await);
    let message = room.message("a message many servers ask about", 20);
    let asks: Vec<_> = (0..16)
        .map(|_| {
            let (room, message) = (room.clone(), message.clone());
            tokio::spawn(async move { room.sign(&message).await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    for ask in asks {
        answers.push(ask.await.unwrap());
    }
    assert!(answers.windows(2).all(|pair| pair[0] == pair[1]));
}

#[tokio::test]
async fn every_error_row_gets_its_matrix_error() {
    let room = protected_room().await;
    let good = room.message("hello", 20);

    let mut tampered = good.clone();
    tampered.insert(
        "content".into(),
        canonical_json::from_value(json!({"x": {"body": "changed"}})).unwrap()["x"].clone(),
    );
    let mut forged = good.clone();
    forged.insert(
        "signatures".into(),
        canonical_json::from_value(json!({"x": {ORIGIN: {"ed25519:a_origin": "AAAA"}}})).unwrap()["x"]
            .clone(),
    );
    let elsewhere = signed(json!({
        "type": "m.room.message", "room_id": "!unknown:example.org", "sender": format!("@alice:{ORIGIN}"),
        "origin_server_ts": 1, "depth": 5, "prev_events": [], "auth_events": [], "content": {"body": "hi"},
    }));
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"not json".to_vec(), 400, "M_NOT_JSON"),
        (b"{\"type\": 1.5}".to_vec(), 400, "M_BAD_JSON"),
        (bytes(&tampered), 400, "M_BAD_JSON"),
        (bytes(&elsewhere), 404, "M_NOT_FOUND"),
        (bytes(&forged), 400, "M_FORBIDDEN"),
    ];
    for (body, status, errcode) in cases {
        let error = sign(&room.state, origin(), &body).await.unwrap_err().to_matrix_error();
        assert_eq!((error.status.as_u16(), error.errcode), (status, errcode), "{}", error.error);
    }
    let error = room.sign(&tampered).await.unwrap_err();
    assert!(error.to_string().contains("content hash mismatch"), "{error}");
}

#[tokio::test]
async fn rooms_that_do_not_name_us_with_our_key_are_not_found() {
    let room = protected_room().await;
    let message = room.message("hello", 20);
    let other_key = RoomPolicy::new(room.state.server_name.as_ref(), [9; 32]);
    room.put_state("m.room.policy", "", other_key.stable_content(), 30).await;
    assert!(matches!(room.sign(&message).await, Err(SignError::NotProtected)));
    room.put_state("m.room.policy", "", json!({}), 31).await;
    assert!(matches!(room.sign(&message).await, Err(SignError::NotProtected)));
    // The unstable event does not count once the stable one exists, even as `{}`.
    room.put_state("org.matrix.msc4284.policy", "", our_policy(&room.state).unstable_content(), 32).await;
    assert!(matches!(room.sign(&message).await, Err(SignError::NotProtected)));
}

#[tokio::test]
async fn callers_denied_by_the_server_acl_get_403() {
    let room = protected_room().await;
    room.put_state("m.room.server_acl", "", json!({"allow": ["*"], "deny": [ORIGIN]}), 30).await;
    let error = room.sign(&room.message("hello", 40)).await.unwrap_err().to_matrix_error();
    assert_eq!((error.status.as_u16(), error.errcode), (403, "M_FORBIDDEN"));
}

#[tokio::test]
async fn the_policy_event_itself_is_always_signed() {
    let room = protected_room().await;
    // Content that a keyword filter would refuse: rooms must still be able to change their policy server.
    let policy_event = signed(json!({
        "type": "m.room.policy", "state_key": "", "room_id": room.room_id, "sender": format!("@alice:{ORIGIN}"),
        "origin_server_ts": 5, "depth": 30, "prev_events": [], "auth_events": [],
        "content": {"via": "spammy spam", "note": "spammy spam"},
    }));
    assert!(matches!(room.sign(&policy_event).await, Ok(SignOutcome::Signed { .. })));
}

#[tokio::test]
async fn history_before_our_join_is_signed_unless_a_critical_filter_objects() {
    let room = protected_room().await;
    // Our join is at depth 10: an older message with a banned keyword is history, not new spam.
    assert!(matches!(
        room.sign(&room.message("spammy spam from long ago", 5)).await,
        Ok(SignOutcome::Signed { .. })
    ));
    assert!(matches!(
        room.sign(&room.message("spammy spam today", 50)).await,
        Ok(SignOutcome::Refused { .. })
    ));
}

/// The length filter takes the event's JSON length from the checked PDU instead of writing the JSON again: the
/// two agree, escapes and non-ASCII text included.
#[tokio::test]
async fn the_canonical_length_of_a_pdu_is_the_length_the_filters_see() {
    let room = protected_room().await;
    let message = room.message("\"quoted\" \\ tab\t nul\u{0} é 日本 😀 </b>", 20);
    let pdu = palisade_matrix::Pdu::from_object(message, &v12()).unwrap();
    let event = palisade_policy::Event::from_json(pdu.to_json_value()).unwrap();
    assert_eq!(pdu.canonical_len(), event.full_json().len());
    assert_eq!(
        event.clone().with_full_json_len(pdu.canonical_len()).full_json_len(),
        event.full_json().len()
    );
}

/// In a v2 room the sender chooses event IDs. With the default filters nothing is looked up before deciding, so
/// the insert is what finds an ID reused for other content, and that content is refused as bad JSON.
#[tokio::test]
async fn a_reused_v2_event_id_for_other_content_is_not_signed() {
    let room = protected_room().await;
    let v2 = palisade_matrix::RoomVersion::parse("2").unwrap();
    let room_id = format!("!v2room:{ORIGIN}");
    room.state.store.put_room(&palisade_store::Room::joined(room_id.clone(), "2", "default")).await.unwrap();
    let v2_room = super::test_room::Room12 { state: room.state.clone(), room_id: room_id.clone() };
    v2_room.put_state("m.room.policy", "", our_policy(&room.state).stable_content(), 3).await;
    v2_room.put_state("m.room.member", super::test_room::US, json!({"membership": "join"}), 10).await;
    let message = |body: &str| {
        let mut object = canonical_json::from_value(json!({
            "type": "m.room.message", "room_id": room_id, "sender": format!("@alice:{ORIGIN}"),
            "event_id": format!("$reused:{ORIGIN}"), "origin_server_ts": 1_700_000_000_000_i64, "depth": 20,
            "prev_events": [["$p:x", {"sha256": "aaaa"}]], "auth_events": [["$a:x", {"sha256": "aaaa"}]],
            "content": {"msgtype": "m.text", "body": body},
        }))
        .unwrap();
        palisade_matrix::signing::hash_and_sign_event(
            &mut object,
            ORIGIN,
            &super::test_room::origin_key(),
            &v2,
        )
        .unwrap();
        object
    };
    let first = message("the first content");
    assert!(v2_room.sign(&first).await.unwrap().is_signed());
    // A fresh evaluator, so the answer cannot come from the recent verdicts in memory.
    let mut restarted = room.state.clone();
    restarted.evaluator = Arc::new(super::Evaluator::default());
    let other = sign(&restarted, origin(), &bytes(&message("other content"))).await;
    assert!(matches!(&other, Err(SignError::BadPdu(reason)) if reason.contains("already used")), "{other:?}");
    assert!(
        sign(&restarted, origin(), &bytes(&first)).await.unwrap().is_signed(),
        "the first content still is"
    );
}
