//! Legacy redaction with a moderator's access token (catalogue §6.4, policyserv's `redaction/`): a room whose
//! `moderator_user_id` is set has refused events redacted by that user through the client-server API of their
//! homeserver, `PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/policyserv_{eventId}` with
//! `{"reason": "Detected as probable spam"}` (the transaction ID is stable, so a repeat is de-duplicated).
//!
//! The operator lists `moderation.access_tokens` (client-server API host → token). Whose token each one is comes from
//! `GET /_matrix/client/v3/account/whoami`, asked lazily and remembered once it answered (policyserv asked at startup
//! and refused to start when a homeserver was down). A redaction is queued in the durable outbox with the moderator's
//! user ID as target — never the token, which is only read from the configuration when sending and never logged —
//! and delivered with the outbox's backoff. Every request passes the outside services' SSRF guard.

use std::sync::{Arc, RwLock};

use palisade_matrix::{OwnedUserId, path_segment};
use palisade_store::{OutboxItem, Store};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::WebhookRetry;
use crate::outside::{OutsideError, OutsideHttp, http::OutsideRequest};

/// The outbox kind of moderator redactions.
pub const KIND: &str = "moderator_redaction";

const SERVICE: &str = "moderator redaction";

/// The reason given in every redaction (policyserv's words).
pub const REASON: &str = "Detected as probable spam";

/// One configured access token.
struct Moderator {
    /// `host[:port]` of the client-server API.
    host: String,
    token: String,
    /// The token's user, once `whoami` answered.
    user_id: RwLock<Option<String>>,
}

impl std::fmt::Debug for Moderator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moderator")
            .field("host", &self.host)
            .field("token", &"<secret>")
            .finish_non_exhaustive()
    }
}

/// The configured moderator tokens and how to reach their homeservers.
#[derive(Clone, Debug, Default)]
pub struct ModeratorRedactor {
    moderators: Arc<Vec<Moderator>>,
    /// Use `http://` instead of `https://` (tests with local receivers only; never set from configuration).
    plain_http: bool,
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redaction {
    /// The homeserver accepted the redaction; the item is gone.
    Redacted,
    /// It failed; it is due again after the backoff.
    Retrying(String),
    /// It can never succeed (no token for the moderator, address refused, the homeserver refused the request) or
    /// ran out of attempts; the item is gone.
    Dropped(String),
}

impl ModeratorRedactor {
    /// Tokens keyed by client-server API `host[:port]`.
    pub fn new<'a>(tokens: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let moderators = tokens
            .into_iter()
            .map(|(host, token)| Moderator {
                host: host.to_owned(),
                token: token.to_owned(),
                user_id: RwLock::new(None),
            })
            .collect();
        Self { moderators: Arc::new(moderators), plain_http: false }
    }

    /// Talks plain HTTP to the homeservers (tests only).
    #[must_use]
    pub fn with_plain_http(mut self) -> Self {
        self.plain_http = true;
        self
    }

    /// Whether any token is configured.
    pub fn is_configured(&self) -> bool {
        !self.moderators.is_empty()
    }

    /// Queues the redaction of `event_id` by the room's moderator, unless there is none, no token is configured, or
    /// the moderator is on the sender's own server (policyserv assumes that server blocked the event itself).
    pub async fn queue(
        &self,
        store: &dyn Store,
        room: &palisade_store::Room,
        sender: &str,
        event_id: &str,
        now_ms: i64,
    ) {
        let Some(moderator) = room.moderator_user_id.as_deref().filter(|m| !m.is_empty()) else {
            return;
        };
        if !self.is_configured() {
            debug!(room_id = room.room_id, "no moderator access tokens configured; no legacy redaction");
            return;
        }
        let Ok(moderator_id) = OwnedUserId::try_from(moderator) else {
            warn!(
                room_id = room.room_id,
                moderator, "moderator_user_id is not a user ID; no legacy redaction"
            );
            return;
        };
        if sender_server(sender).as_deref() == Some(moderator_id.server_name().as_str()) {
            debug!(
                room_id = room.room_id,
                event_id, "moderator and sender share a homeserver; not redacting"
            );
            return;
        }
        let payload = json!({"room_id": room.room_id, "event_id": event_id});
        if let Err(error) = store.enqueue_outbox(KIND, moderator, &payload, now_ms).await {
            warn!(room_id = room.room_id, %error, "legacy redaction not queued");
        }
    }

    /// Delivers one queued redaction and updates the outbox accordingly.
    pub async fn deliver(
        &self,
        store: &dyn Store,
        http: &OutsideHttp,
        retry: &WebhookRetry,
        item: &OutboxItem,
        now_ms: i64,
    ) -> Redaction {
        let outcome = match self.attempt(http, item).await {
            Redaction::Retrying(error) if item.attempts + 1 >= retry.max_attempts => {
                Redaction::Dropped(format!("giving up after {} attempts: {error}", item.attempts + 1))
            }
            outcome => outcome,
        };
        let result = match &outcome {
            Redaction::Redacted | Redaction::Dropped(_) => store.ack_outbox(item.id).await.map(|_| ()),
            Redaction::Retrying(reason) => {
                let wait = i64::try_from(retry.delay(item.attempts + 1).as_millis()).unwrap_or(i64::MAX);
                store.retry_outbox(item.id, now_ms.saturating_add(wait), reason).await.map(|_| ())
            }
        };
        if let Err(error) = result {
            warn!(id = item.id, %error, "could not update the redaction outbox");
        }
        outcome
    }

    async fn attempt(&self, http: &OutsideHttp, item: &OutboxItem) -> Redaction {
        let text = |key: &str| item.payload.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (room_id, event_id) = (text("room_id"), text("event_id"));
        if room_id.is_empty() || event_id.is_empty() {
            return Redaction::Dropped("malformed outbox item".to_owned());
        }
        let moderator = match self.moderator_for(http, &item.target).await {
            Ok(Some(moderator)) => moderator,
            Ok(None) => {
                return Redaction::Dropped(format!("no access token is configured for {}", item.target));
            }
            Err(reason) => return Redaction::Retrying(reason),
        };
        let path = format!(
            "/_matrix/client/v3/rooms/{}/redact/{}/{}",
            path_segment::encode(&room_id),
            path_segment::encode(&event_id),
            path_segment::encode(&format!("policyserv_{event_id}"))
        );
        let url = match self.url(moderator, &path) {
            Ok(url) => url,
            Err(error) => return Redaction::Dropped(error.to_string()),
        };
        let body = serde_json::to_vec(&json!({"reason": REASON})).unwrap_or_default();
        let request = OutsideRequest {
            service: SERVICE,
            method: reqwest::Method::PUT,
            url,
            bearer: Some(&moderator.token),
            body: Some(("application/json".to_owned(), body)),
            max_response_bytes: 64 * 1024,
        };
        match http.send(request).await {
            Ok(_) => Redaction::Redacted,
            Err(error) => classify(error),
        }
    }

    /// The configured token whose user is `user_id`, asking `whoami` for tokens not identified yet. `Err` when a
    /// token could not be identified (its homeserver may be down), so the redaction is tried again later.
    async fn moderator_for(&self, http: &OutsideHttp, user_id: &str) -> Result<Option<&Moderator>, String> {
        let mut unidentified = None;
        for moderator in self.moderators.iter() {
            let known = moderator.user_id.read().ok().and_then(|id| id.clone());
            let user = match known {
                Some(user) => user,
                None => match self.whoami(http, moderator).await {
                    Ok(user) => {
                        info!(host = moderator.host, user, "moderator access token identified");
                        if let Ok(mut slot) = moderator.user_id.write() {
                            *slot = Some(user.clone());
                        }
                        user
                    }
                    // A refused address or a rejected token will not identify anyone later either.
                    Err(
                        error @ (OutsideError::Refused { .. }
                        | OutsideError::Status { status: 401 | 403, .. }),
                    ) => {
                        warn!(host = moderator.host, %error, "moderator access token unusable");
                        continue;
                    }
                    Err(error) => {
                        unidentified = Some(format!("whoami on {} failed: {error}", moderator.host));
                        continue;
                    }
                },
            };
            if user == user_id {
                return Ok(Some(moderator));
            }
        }
        unidentified.map_or(Ok(None), Err)
    }

    async fn whoami(&self, http: &OutsideHttp, moderator: &Moderator) -> Result<String, OutsideError> {
        let url = self.url(moderator, "/_matrix/client/v3/account/whoami")?;
        let request = OutsideRequest {
            service: SERVICE,
            method: reqwest::Method::GET,
            url,
            bearer: Some(&moderator.token),
            body: None,
            max_response_bytes: 64 * 1024,
        };
        let bytes = http.send(request).await?;
        let bad = |reason: String| OutsideError::BadResponse { service: SERVICE, reason };
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let user = body.get("user_id").and_then(Value::as_str).ok_or_else(|| bad("no user_id".to_owned()))?;
        OwnedUserId::try_from(user).map_err(|_| bad(format!("{user:?} is not a user ID")))?;
        Ok(user.to_owned())
    }

    fn url(&self, moderator: &Moderator, path: &str) -> Result<reqwest::Url, OutsideError> {
        let scheme = if self.plain_http { "http" } else { "https" };
        let text = format!("{scheme}://{}{path}", moderator.host);
        reqwest::Url::parse(&text)
            .map_err(|e| OutsideError::Refused { url: text.clone(), reason: format!("not a URL: {e}") })
    }
}

/// Retry what may pass later (no answer, 5xx, 429); drop what cannot (refused address, other 4xx).
fn classify(error: OutsideError) -> Redaction {
    match &error {
        OutsideError::Refused { .. } => Redaction::Dropped(error.to_string()),
        OutsideError::Status { status, .. } if (400..500).contains(status) && *status != 429 => {
            Redaction::Dropped(error.to_string())
        }
        _ => Redaction::Retrying(error.to_string()),
    }
}

/// The server part of a user ID.
fn sender_server(sender: &str) -> Option<String> {
    OwnedUserId::try_from(sender).ok().map(|user| user.server_name().to_string())
}

/// Delivers queued moderator redactions until the runtime stops.
pub fn spawn_worker(
    store: Arc<dyn Store>,
    http: OutsideHttp,
    redactor: ModeratorRedactor,
    retry: WebhookRetry,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let now = super::webhook::now_ms();
            let lease_ms = i64::try_from(retry.max_delay.as_millis()).unwrap_or(i64::MAX).max(60_000);
            let items = match store.take_outbox(KIND, 16, now, lease_ms).await {
                Ok(items) => items,
                Err(error) => {
                    warn!(%error, "cannot read the redaction outbox");
                    Vec::new()
                }
            };
            if items.is_empty() {
                tokio::time::sleep(retry.poll).await;
                continue;
            }
            for item in &items {
                match redactor.deliver(store.as_ref(), &http, &retry, item, super::webhook::now_ms()).await {
                    Redaction::Redacted => info!(id = item.id, "refused event redacted by the moderator"),
                    Redaction::Retrying(reason) => {
                        info!(id = item.id, attempts = item.attempts + 1, %reason, "redaction failed; will retry");
                    }
                    Redaction::Dropped(reason) => warn!(id = item.id, %reason, "redaction dropped"),
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_final_and_server_errors_retried() {
        let status = |status| OutsideError::Status { service: SERVICE, status };
        assert!(matches!(classify(status(403)), Redaction::Dropped(_)));
        assert!(matches!(classify(status(429)), Redaction::Retrying(_)));
        assert!(matches!(classify(status(502)), Redaction::Retrying(_)));
        let refused = OutsideError::Refused { url: "https://x".into(), reason: "private".into() };
        assert!(matches!(classify(refused), Redaction::Dropped(_)));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let redactor = ModeratorRedactor::new([("hs.example.org", "syt_secret_token")]);
        assert!(!format!("{redactor:?}").contains("syt_secret"));
    }
}
