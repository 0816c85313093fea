//! Community webhooks on refusals.
//!
//! A community sets `webhook_url`; the URL must be `https` and its `host[:port]` one of the operator's
//! `webhooks.allowed_domains` (exact match, as policyserv). Every address it resolves to is checked by the outside
//! services' SSRF guard when it is sent, so an allowed name pointing at a private address is refused (and the item
//! dropped: retrying cannot help). The body is Hookshot's `{"text", "html"}` (policyserv's format, rendered HTML
//! audit) plus a `palisade` member with the same facts as plain JSON for other receivers.

use std::{sync::Arc, time::Duration};

use palisade_policy::Verdict;
use palisade_store::{OutboxItem, Store};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::outside::{OutsideError, OutsideHttp, http::OutsideRequest};

/// The outbox kind of webhook deliveries.
pub const KIND: &str = "webhook";

const SERVICE: &str = "webhook";

/// Which webhook URLs communities may use.
#[derive(Clone, Debug, Default)]
pub struct WebhookSettings {
    /// `host[:port]` values a webhook URL may name, exactly.
    pub allowed_domains: Vec<String>,
    /// Also accept `http` URLs (tests with local receivers only; never set from configuration).
    pub allow_plain_http: bool,
}

impl WebhookSettings {
    /// The URL, if a community may send webhooks to it; otherwise why not.
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        let scheme_ok = parsed.scheme() == "https" || (self.allow_plain_http && parsed.scheme() == "http");
        if !scheme_ok {
            return Err(format!("scheme {:?} is not https", parsed.scheme()));
        }
        let host = parsed.host_str().ok_or("no host")?;
        let authority = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        if !self.allowed_domains.iter().any(|allowed| allowed.eq_ignore_ascii_case(&authority)) {
            return Err(format!("{authority} is not in webhooks.allowed_domains"));
        }
        Ok(parsed)
    }
}

/// How deliveries are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookRetry {
    /// Wait after the first failure; doubled after each further failure.
    pub first_delay: Duration,
    /// Longest wait between attempts.
    pub max_delay: Duration,
    /// Attempts before an item is dropped (with a warning).
    pub max_attempts: i32,
    /// How often the worker looks for due items when idle.
    pub poll: Duration,
}

impl Default for WebhookRetry {
    /// 5 s, 10 s, … capped at one hour, for 24 attempts (about 20 hours in all).
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(3600),
            max_attempts: 24,
            poll: Duration::from_secs(1),
        }
    }
}

impl WebhookRetry {
    /// The wait after `failures` failed attempts (1 = the first failure).
    pub fn delay(&self, failures: i32) -> Duration {
        let doublings = u32::try_from(failures.saturating_sub(1).clamp(0, 30)).unwrap_or(0);
        self.first_delay.saturating_mul(1u32 << doublings.min(20)).min(self.max_delay)
    }
}

/// Queues webhook deliveries for refusals.
#[derive(Clone, Debug, Default)]
pub struct WebhookNotifier {
    settings: WebhookSettings,
}

impl WebhookNotifier {
    /// A notifier accepting URLs per `settings`.
    pub fn new(settings: WebhookSettings) -> Self {
        Self { settings }
    }

    /// Queues the audit of a refused event for `webhook_url` (nothing when it is empty or not allowed).
    pub async fn refused(
        &self,
        store: &dyn Store,
        webhook_url: &str,
        room_id: &str,
        event: &Value,
        verdict: &Verdict,
        now_ms: i64,
    ) {
        if webhook_url.is_empty() || !verdict.is_prohibited() {
            return;
        }
        if let Err(reason) = self.settings.check_url(webhook_url) {
            warn!(room_id, %reason, "webhook not sent: URL refused");
            return;
        }
        let payload = audit(room_id, event, verdict, now_ms);
        if let Err(error) = store.enqueue_outbox(KIND, webhook_url, &payload, now_ms).await {
            warn!(room_id, %error, "webhook not queued");
        }
    }
}

/// The body: Hookshot's `text`/`html`, and the facts as JSON under `palisade`.
pub fn audit(room_id: &str, event: &Value, verdict: &Verdict, now_ms: i64) -> Value {
    let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (sender, event_id, event_type) = (text("sender"), text("event_id"), text("type"));
    let origin_server_ts = event.get("origin_server_ts").cloned().unwrap_or(Value::Null);
    let trace = serde_json::to_value(&verdict.trace).unwrap_or_default();
    let content =
        serde_json::to_string_pretty(event.get("content").unwrap_or(&Value::Null)).unwrap_or_default();
    let mut filters = String::new();
    for entry in &verdict.trace {
        filters.push_str(&format!(
            "<li><code>{}</code>: {} {} — {}</li>",
            escape(&entry.filter),
            escape(&format!("{:?}", entry.outcome)),
            escape(&entry.harms.join(", ")),
            escape(&entry.reason)
        ));
    }
    let html = format!(
        "<p><b>Refused event</b> from <code>{sender}</code> in <a href=\"https://matrix.to/#/{room_link}\">{room}</a></p>\
         <p>Event <code>{event_id}</code> (<code>{event_type}</code>), sent {ts}, decided {now_ms}; harms: {harms}</p>\
         <details><summary>Filters</summary><ul>{filters}</ul></details>\
         <details><summary>Content</summary><pre><code>{content}</code></pre></details>",
        sender = escape(&sender),
        room_link = escape(room_id),
        room = escape(room_id),
        event_id = escape(&event_id),
        event_type = escape(&event_type),
        ts = escape(&origin_server_ts.to_string()),
        harms = escape(&verdict.harms.join(", ")),
        content = escape(&content),
    );
    json!({
        "text": "This event requires HTML.",
        "html": html,
        "palisade": {
            "room_id": room_id,
            "event_id": event_id,
            "sender": sender,
            "type": event_type,
            "origin_server_ts": origin_server_ts,
            "harms": verdict.harms,
            "trace": trace,
            "decided_at_ms": now_ms,
        },
    })
}

/// HTML-escapes text.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The receiver answered 2xx; the item is gone.
    Delivered,
    /// It failed; it is due again after the backoff.
    Retrying(String),
    /// It can never succeed (URL no longer allowed, address refused) or ran out of attempts; the item is gone.
    Dropped(String),
}

/// Delivers one item and updates the outbox accordingly.
pub async fn deliver(
    store: &dyn Store,
    http: &OutsideHttp,
    settings: &WebhookSettings,
    retry: &WebhookRetry,
    item: &OutboxItem,
    now_ms: i64,
) -> Delivery {
    let outcome = match settings.check_url(&item.target) {
        Err(reason) => Delivery::Dropped(reason),
        Ok(url) => {
            let body = serde_json::to_vec(&item.payload).unwrap_or_default();
            let request = OutsideRequest {
                service: SERVICE,
                method: reqwest::Method::POST,
                url,
                bearer: None,
                body: Some(("application/json".to_owned(), body)),
                max_response_bytes: 64 * 1024,
            };
            match http.send(request).await {
                Ok(_) => Delivery::Delivered,
                Err(error @ OutsideError::Refused { .. }) => Delivery::Dropped(error.to_string()),
                Err(error) if item.attempts + 1 >= retry.max_attempts => {
                    Delivery::Dropped(format!("giving up after {} attempts: {error}", item.attempts + 1))
                }
                Err(error) => Delivery::Retrying(error.to_string()),
            }
        }
    };
    let result = match &outcome {
        Delivery::Delivered | Delivery::Dropped(_) => store.ack_outbox(item.id).await.map(|_| ()),
        Delivery::Retrying(reason) => {
            let wait = i64::try_from(retry.delay(item.attempts + 1).as_millis()).unwrap_or(i64::MAX);
            store.retry_outbox(item.id, now_ms.saturating_add(wait), reason).await.map(|_| ())
        }
    };
    if let Err(error) = result {
        warn!(id = item.id, %error, "could not update the webhook outbox");
    }
    outcome
}

/// Delivers queued webhooks until the runtime stops.
pub fn spawn_worker(
    store: Arc<dyn Store>,
    http: OutsideHttp,
    settings: WebhookSettings,
    retry: WebhookRetry,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let now = now_ms();
            let lease_ms = i64::try_from(retry.max_delay.as_millis()).unwrap_or(i64::MAX).max(60_000);
            let items = match store.take_outbox(KIND, 16, now, lease_ms).await {
                Ok(items) => items,
                Err(error) => {
                    warn!(%error, "cannot read the webhook outbox");
                    Vec::new()
                }
            };
            if items.is_empty() {
                tokio::time::sleep(retry.poll).await;
                continue;
            }
            for item in &items {
                match deliver(store.as_ref(), &http, &settings, &retry, item, now_ms()).await {
                    Delivery::Delivered => info!(id = item.id, "webhook delivered"),
                    Delivery::Retrying(reason) => {
                        info!(id = item.id, attempts = item.attempts + 1, %reason, "webhook failed; will retry");
                    }
                    Delivery::Dropped(reason) => warn!(id = item.id, %reason, "webhook dropped"),
                }
            }
        }
    })
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/sign` queues one webhook per refused event, for the room's community, and none for repeats or neutral events.
    #[tokio::test]
    async fn sign_refusals_queue_one_webhook() {
        let mut room = crate::sign::test_room::protected_room().await;
        let notifier = WebhookNotifier::new(WebhookSettings {
            allowed_domains: vec!["hooks.example.org".to_owned()],
            allow_plain_http: false,
        });
        room.state.evaluator = Arc::new(crate::sign::Evaluator::default().with_webhooks(notifier));
        let store = room.state.store.clone();
        store
            .set_community_config("default", &json!({"webhook_url": "https://hooks.example.org/hook"}))
            .await
            .unwrap();
        let spam = room.message("buy spammy spam now", 20);
        assert!(!room.sign(&spam).await.unwrap().is_signed());
        assert!(!room.sign(&spam).await.unwrap().is_signed());
        assert!(
            room.sign(&room.message_from("@bob:origin.example.org", "hello", 21)).await.unwrap().is_signed()
        );
        let items = store.take_outbox(KIND, 10, i64::MAX / 2, 1).await.unwrap();
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0].target, "https://hooks.example.org/hook");
        assert_eq!(items[0].payload["palisade"]["room_id"], room.room_id.as_str());
        assert!(
            items[0].payload["palisade"]["harms"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h == "org.matrix.msc4456.spam")
        );
    }

    #[test]
    fn only_allowed_https_hosts() {
        let settings = WebhookSettings {
            allowed_domains: vec!["hooks.example.org".to_owned(), "other.example:8443".to_owned()],
            allow_plain_http: false,
        };
        assert!(settings.check_url("https://hooks.example.org/webhook/abc").is_ok());
        assert!(settings.check_url("https://HOOKS.example.org/x").is_ok());
        assert!(settings.check_url("https://other.example:8443/x").is_ok());
        for bad in [
            "http://hooks.example.org/x",
            "https://hooks.example.org:8443/x",
            "https://evil.example/x",
            "https://hooks.example.org.evil.example/x",
            "ftp://hooks.example.org/x",
            "not a url",
        ] {
            assert!(settings.check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let retry = WebhookRetry::default();
        assert_eq!(retry.delay(1), Duration::from_secs(5));
        assert_eq!(retry.delay(2), Duration::from_secs(10));
        assert_eq!(retry.delay(4), Duration::from_secs(40));
        assert_eq!(retry.delay(40), Duration::from_secs(3600));
    }

    #[test]
    fn audit_escapes_html_and_carries_the_facts() {
        let mut verdict =
            Verdict::new(palisade_policy::ContentClass::Prohibited, &["org.matrix.msc4456.spam".to_owned()]);
        verdict.trace.push(palisade_policy::TraceEntry {
            filter: "keyword".to_owned(),
            outcome: palisade_policy::ContentClass::Prohibited,
            harms: vec!["org.matrix.msc4456.spam".to_owned()],
            mode: palisade_policy::FilterMode::Enforce,
            reason: "matched <script>".to_owned(),
        });
        let event = json!({"event_id": "$e", "sender": "@a:x", "type": "m.room.message",
                           "content": {"body": "<b>buy</b>"}});
        let body = audit("!r:x", &event, &verdict, 5);
        let html = body["html"].as_str().unwrap();
        assert!(
            !html.contains("<script>") && html.contains("&lt;script&gt;") && html.contains("&lt;b&gt;buy")
        );
        assert_eq!(body["text"], "This event requires HTML.");
        assert_eq!(body["palisade"]["harms"], json!(["org.matrix.msc4456.spam"]));
        assert_eq!(body["palisade"]["trace"][0]["filter"], "keyword");
    }
}
