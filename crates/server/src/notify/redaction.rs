//! Asking for a refused event to be redacted (policyserv's `redactIfNeeded`, catalogue §2 step 12 and §6.4).
//!
//! When a `/sign` (or legacy `/check`) answer is a refusal, the event may already be in other servers' rooms, so we
//! ask the community's moderation tooling to redact it: the signed `redact` command to the community's
//! `moderation_bot_user_id` ([`super::to_device`]) and, where the room has a `moderator_user_id` with a configured
//! access token, the legacy redaction with that token ([`super::moderator`]).
//!
//! Exactly as policyserv: nothing is asked when the server asking is the sender's own server (it is assumed to drop
//! the event it was refused; if it sends it anyway, the other servers' asks trigger the redaction). A sender that is
//! not a valid user ID never matches an origin. Webhooks are not affected by this rule: they report every new
//! refusal once, whoever asked.
//!
//! Unlike policyserv, which queued a command for every refused ask (one per server in the room), Palisade asks once
//! per event: the first qualifying ask records a hit in the shared frequency counters, later ones see it.

use palisade_matrix::OwnedUserId;
use palisade_store::{Room, Store};
use tracing::warn;

use super::moderator::ModeratorRedactor;

/// The counter recording that a redaction was asked for an event.
const COUNTER: &str = "redaction_requested";

/// How long the "already asked" mark is kept (retention may prune it earlier).
const REMEMBER_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Why a redaction was or was not asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedactionRequest {
    /// The redact command and/or legacy redaction were queued.
    Queued,
    /// The asking server is the sender's own server.
    SendersOwnServer,
    /// An earlier ask already queued them.
    AlreadyRequested,
    /// The community has no moderation bot and the room no moderator with a configured token.
    NoModeration,
}

/// Everything [`request`] needs to know about the refusal.
#[derive(Debug, Clone, Copy)]
pub struct Refusal<'a> {
    /// The event's room.
    pub room: &'a Room,
    /// The event's ID.
    pub event_id: &'a str,
    /// The event's sender.
    pub sender: &'a str,
    /// The server that asked.
    pub origin: &'a str,
    /// The community's `moderation_bot_user_id` (empty: none).
    pub moderation_bot_user_id: &'a str,
}

/// Who we are when sending the command.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// Our server name.
    pub server_name: &'a str,
    /// The policy key, which signs the command.
    pub policy_key: &'a palisade_matrix::SigningKey,
    /// Our user (the to-device message's sender), if known.
    pub local_user_id: Option<&'a str>,
}

/// Queues the redaction side effects of a refusal, unless the asker is the sender's own server or they were queued
/// for this event before.
pub async fn request(
    store: &dyn Store,
    us: Identity<'_>,
    moderators: Option<&ModeratorRedactor>,
    refusal: Refusal<'_>,
    now_ms: i64,
) -> RedactionRequest {
    if senders_server(refusal.sender).as_deref() == Some(refusal.origin) {
        return RedactionRequest::SendersOwnServer;
    }
    let wants_bot = !refusal.moderation_bot_user_id.is_empty() && us.local_user_id.is_some();
    let wants_moderator = refusal.room.moderator_user_id.as_deref().is_some_and(|m| !m.is_empty())
        && moderators.is_some_and(ModeratorRedactor::is_configured);
    if !wants_bot && !wants_moderator {
        return RedactionRequest::NoModeration;
    }
    let key = format!("{} {}", refusal.room.room_id, refusal.event_id);
    match store.record_and_count(&refusal.room.community_id, COUNTER, &key, now_ms, REMEMBER_MS).await {
        Ok(1) => {}
        Ok(_) => return RedactionRequest::AlreadyRequested,
        // Better a repeated redaction than a missing one.
        Err(error) => warn!(%error, "could not record the redaction request; asking anyway"),
    }
    if let (Some(moderators), true) = (moderators, wants_moderator) {
        moderators.queue(store, refusal.room, refusal.sender, refusal.event_id, now_ms).await;
    }
    if let (Some(local_user), true) = (us.local_user_id, wants_bot) {
        super::to_device::queue_redact(
            store,
            us.server_name,
            us.policy_key,
            local_user,
            refusal.moderation_bot_user_id,
            &refusal.room.room_id,
            refusal.event_id,
            now_ms,
        )
        .await;
    }
    RedactionRequest::Queued
}

/// The server of a sender that is a valid user ID.
fn senders_server(sender: &str) -> Option<String> {
    OwnedUserId::try_from(sender).ok().map(|user| user.server_name().to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::sign::test_room::{ORIGIN, bytes, protected_room};

    fn server(name: &str) -> &palisade_matrix::ServerName {
        <&palisade_matrix::ServerName>::try_from(name).unwrap()
    }

    /// policyserv's `redactIfNeeded`: a refusal asked for by the sender's own server queues no redaction (but the
    /// webhook still reports it); the first refusal asked for by another server queues the signed command and the
    /// legacy redaction, once; further asks queue nothing more.
    #[tokio::test]
    async fn no_redaction_when_the_senders_own_server_asks_and_once_otherwise() {
        let mut room = protected_room().await;
        let notifier = crate::notify::WebhookNotifier::new(crate::notify::WebhookSettings {
            allowed_domains: vec!["hooks.example.org".to_owned()],
            allow_plain_http: false,
        });
        let moderators = ModeratorRedactor::new([("mod.example.net", "secret")]);
        room.state.evaluator = Arc::new(
            crate::sign::Evaluator::new(
                palisade_policy::CommunityConfig::default(),
                palisade_policy::InstanceSettings {
                    local_user_id: Some(crate::sign::test_room::US.to_owned()),
                    ..Default::default()
                },
                Vec::new(),
            )
            .with_webhooks(notifier)
            .with_moderators(moderators),
        );
        let store = room.state.store.clone();
        store
            .set_community_config(
                "default",
                &json!({"moderation_bot_user_id": "@bot:mod.example.org",
                        "webhook_url": "https://hooks.example.org/hook"}),
            )
            .await
            .unwrap();
        let mut stored = store.get_room(room.room_id.as_str()).await.unwrap().unwrap();
        stored.moderator_user_id = Some("@mod:mod.example.net".to_owned());
        store.put_room(&stored).await.unwrap();

        let spam = room.message("buy spammy spam now", 20);
        // Asked by the sender's own server (the sender is @alice:origin.example.org).
        let refused = room.sign(&spam).await.unwrap();
        assert!(!refused.is_signed());
        assert!(store.destinations_needing_catchup(i64::MAX / 4).await.unwrap().is_empty(), "no command");
        assert_eq!(store.outbox_len(super::super::moderator::KIND).await.unwrap(), 0, "no legacy redaction");
        assert_eq!(
            store.outbox_len(super::super::webhook::KIND).await.unwrap(),
            1,
            "the webhook still reports it"
        );

        // Asked by two other servers: queued once.
        for other in ["other.example.com", "third.example.com"] {
            let outcome = crate::sign::sign(&room.state, server(other), &bytes(&spam)).await.unwrap();
            assert!(!outcome.is_signed());
        }
        let batch = store.take_edu_batch("mod.example.org", 10, i64::MAX / 4, 1000).await.unwrap().unwrap();
        assert_eq!(batch.edus.len(), 1, "{batch:?}");
        let edu = &batch.edus[0].edu;
        assert_eq!(edu["edu_type"], "m.direct_to_device");
        assert_eq!(edu["content"]["sender"], crate::sign::test_room::US);
        assert_eq!(edu["content"]["type"], "org.matrix.policyserv.command");
        let command = &edu["content"]["messages"]["@bot:mod.example.org"]["*"];
        assert_eq!(command["command"], "redact");
        assert_eq!(command["event_id"], refused.event_id());
        assert_eq!(command["room_id"], room.room_id.as_str());
        let public = room.state.keys.policy.public_key();
        palisade_matrix::policy_command::verify_command(command, room.state.server_name.as_str(), &public)
            .unwrap();
        let legacy = store.take_outbox(super::super::moderator::KIND, 10, i64::MAX / 4, 1).await.unwrap();
        assert_eq!(legacy.len(), 1, "{legacy:?}");
        assert_eq!(legacy[0].target, "@mod:mod.example.net");
        assert_eq!(
            legacy[0].payload,
            json!({"room_id": room.room_id.as_str(), "event_id": refused.event_id()})
        );
        assert!(!legacy[0].payload.to_string().contains("secret"), "the token is never stored");
    }

    /// The rule compares the sender's server with the asker exactly; an invalid sender never matches.
    #[tokio::test]
    async fn the_rule_is_about_the_senders_server_only() {
        let store = palisade_store::open("sqlite::memory:").await.unwrap();
        let key = palisade_matrix::SigningKey::from_seed(&[2; 32], "policy_server").unwrap();
        let us = Identity {
            server_name: "palisade.example.org",
            policy_key: &key,
            local_user_id: Some("@ps:palisade.example.org"),
        };
        let room = Room {
            room_id: "!r:example.org".to_owned(),
            room_version: "12".to_owned(),
            community_id: "default".to_owned(),
            join_state: palisade_store::JoinState::Joined,
            moderator_user_id: None,
            overrides: None,
            last_state_update_ms: 0,
        };
        let refusal = |sender, origin| Refusal {
            room: &room,
            event_id: "$e",
            sender,
            origin,
            moderation_bot_user_id: "@bot:mod.example.org",
        };
        let ask = |sender, origin| request(store.as_ref(), us, None, refusal(sender, origin), 1);
        assert_eq!(ask("@a:evil.example", "evil.example").await, RedactionRequest::SendersOwnServer);
        assert_eq!(ask("@a:evil.example:8448", "evil.example").await, RedactionRequest::Queued);
        assert_eq!(ask("@a:evil.example", "other.example").await, RedactionRequest::AlreadyRequested);
        let none = Refusal { moderation_bot_user_id: "", ..refusal("not a user", ORIGIN) };
        assert_eq!(request(store.as_ref(), us, None, none, 1).await, RedactionRequest::NoModeration);
    }
}
