//! The EDU sender: delivers the store's outbound EDU queue (today the signed `redact` commands to moderation bots,
//! catalogue §1.8) to each destination with `PUT /_matrix/federation/v1/send/{txnId}`.
//!
//! Every request goes through the [`FederationClient`]: spec server discovery, the SSRF guard, X-Matrix signing
//! with our federation key. The store decides the pacing: a batch is leased to one sender (so two instances never
//! send it at once), keeps its transaction ID until it is acknowledged (a retry resends the *same* transaction, which
//! the receiver may de-duplicate), and after a failure the destination backs off exponentially (5 s doubling, capped
//! at an hour, [`palisade_store::edu_retry_delay_ms`]). EDUs leave the queue only when the receiver answered 2xx.
//! policyserv used a fresh transaction ID per attempt and retried every ~15 s without end.

use std::{sync::Arc, time::Duration};

use palisade_matrix::{ServerName, path_segment};
use palisade_store::{EduBatch, Store};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use crate::{FederationClient, Outcome, RequestOptions};

/// The spec's limit of EDUs in one transaction.
pub const MAX_EDUS_PER_TRANSACTION: u32 = 100;

/// How the sender runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EduSenderSettings {
    /// EDUs per transaction (at most [`MAX_EDUS_PER_TRANSACTION`]).
    pub batch_size: u32,
    /// How long a leased batch is ours before another sender may take it over (longer than a request can take).
    pub lease: Duration,
    /// How often the queue is looked at.
    pub poll: Duration,
}

impl Default for EduSenderSettings {
    fn default() -> Self {
        Self { batch_size: 50, lease: Duration::from_secs(120), poll: Duration::from_secs(1) }
    }
}

/// What one attempt at a destination came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EduDelivery {
    /// Nothing was due (empty queue, leased by another sender, or backing off).
    Idle,
    /// The receiver accepted the transaction; `edus` EDUs left the queue.
    Delivered {
        /// The transaction ID used.
        txn_id: String,
        /// EDUs removed.
        edus: u64,
    },
    /// It failed; the batch stays queued with its transaction ID and the destination backs off.
    Retrying {
        /// The transaction ID that will be resent.
        txn_id: String,
        /// Consecutive failures of the destination.
        failures: u32,
        /// When the destination is due again (ms).
        next_attempt_ms: i64,
        /// What went wrong.
        reason: String,
    },
    /// It can never succeed (an invalid destination name, an address the SSRF guard refuses); the batch is gone.
    Dropped {
        /// The abandoned transaction ID.
        txn_id: String,
        /// Why.
        reason: String,
    },
}

/// Delivers queued EDUs.
#[derive(Debug, Clone)]
pub struct EduSender {
    client: Arc<FederationClient>,
    store: Arc<dyn Store>,
    settings: EduSenderSettings,
}

impl EduSender {
    /// A sender using `client` (which signs as our server) and `store`'s queue.
    pub fn new(client: Arc<FederationClient>, store: Arc<dyn Store>, settings: EduSenderSettings) -> Self {
        Self { client, store, settings }
    }

    /// Tries every destination that has due EDUs once; returns what happened to each.
    pub async fn run_once(&self, now_ms: i64) -> Vec<(String, EduDelivery)> {
        let destinations = match self.store.destinations_needing_catchup(now_ms).await {
            Ok(destinations) => destinations,
            Err(error) => {
                warn!(%error, "cannot read the EDU queue");
                return Vec::new();
            }
        };
        let mut results = Vec::with_capacity(destinations.len());
        for destination in destinations {
            let outcome = self.send_to(&destination, now_ms).await;
            results.push((destination, outcome));
        }
        results
    }

    /// Sends one batch to `destination`, if one is due.
    pub async fn send_to(&self, destination: &str, now_ms: i64) -> EduDelivery {
        let batch_size = self.settings.batch_size.clamp(1, MAX_EDUS_PER_TRANSACTION);
        let lease_ms = i64::try_from(self.settings.lease.as_millis()).unwrap_or(i64::MAX);
        let batch = match self.store.take_edu_batch(destination, batch_size, now_ms, lease_ms).await {
            Ok(Some(batch)) => batch,
            Ok(None) => return EduDelivery::Idle,
            Err(error) => {
                warn!(destination, %error, "cannot lease EDUs");
                return EduDelivery::Idle;
            }
        };
        let outcome = self.transmit(&batch, now_ms).await;
        let txn_id = batch.txn_id.clone();
        match outcome {
            Transmitted::Accepted => match self.store.ack_edu_batch(destination, &txn_id).await {
                Ok(edus) => EduDelivery::Delivered { txn_id, edus },
                Err(error) => {
                    // The lease runs out and the same transaction is sent again; receivers de-duplicate it.
                    warn!(destination, %error, "delivered, but could not remove the EDUs from the queue");
                    EduDelivery::Delivered { txn_id, edus: 0 }
                }
            },
            Transmitted::Hopeless(reason) => {
                if let Err(error) = self.store.ack_edu_batch(destination, &txn_id).await {
                    warn!(destination, %error, "could not drop undeliverable EDUs");
                }
                EduDelivery::Dropped { txn_id, reason }
            }
            Transmitted::Failed(reason) => {
                match self.store.fail_edu_batch(destination, &txn_id, now_ms).await {
                    Ok(retry) => EduDelivery::Retrying {
                        txn_id,
                        failures: retry.failures,
                        next_attempt_ms: retry.next_attempt_ms,
                        reason,
                    },
                    Err(error) => {
                        warn!(destination, %error, "could not record a failed EDU transaction");
                        EduDelivery::Retrying { txn_id, failures: 0, next_attempt_ms: now_ms, reason }
                    }
                }
            }
        }
    }

    /// `PUT /send/{txnId}` with the batch's EDUs.
    async fn transmit(&self, batch: &EduBatch, now_ms: i64) -> Transmitted {
        let Ok(destination) = <&ServerName>::try_from(batch.destination.as_str()) else {
            return Transmitted::Hopeless(format!("{:?} is not a server name", batch.destination));
        };
        let body = transaction_body(self.client.server_name().as_str(), batch, now_ms);
        let path = format!("/_matrix/federation/v1/send/{}", path_segment::encode(&batch.txn_id));
        // The store paces retries per destination; the client's in-memory backoff would only second-guess it.
        let options = RequestOptions { ignore_backoff: true, unsigned: false };
        let outcome: Outcome<Value> =
            self.client.request_json(http::Method::PUT, destination, &path, Some(&body), options).await;
        match outcome {
            Outcome::Ok(_) => Transmitted::Accepted,
            Outcome::Denied(reason) => Transmitted::Hopeless(format!("denied: {reason}")),
            Outcome::InvalidRequest(reason) => Transmitted::Hopeless(format!("invalid request: {reason}")),
            // The receiver took the transaction but answered with a body we cannot read: it has the EDUs.
            Outcome::InvalidResponse(reason) => {
                debug!(
                    destination = batch.destination,
                    reason, "unreadable /send response; counted as delivered"
                );
                Transmitted::Accepted
            }
            failure => Transmitted::Failed(failure.failure_reason().unwrap_or_default()),
        }
    }

    /// Runs [`EduSender::run_once`] every `poll` until the runtime stops, logging what happened.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                for (destination, outcome) in self.run_once(wall_clock_ms()).await {
                    log(&destination, &outcome);
                }
                tokio::time::sleep(self.settings.poll).await;
            }
        })
    }
}

/// The result of one `/send` request.
enum Transmitted {
    Accepted,
    Failed(String),
    Hopeless(String),
}

/// The transaction: `origin`, `origin_server_ts`, no PDUs, the EDUs oldest first.
pub fn transaction_body(origin: &str, batch: &EduBatch, now_ms: i64) -> Value {
    let edus: Vec<&Value> = batch.edus.iter().map(|queued| &queued.edu).collect();
    json!({
        "origin": origin,
        "origin_server_ts": now_ms,
        "pdus": [],
        "edus": edus,
    })
}

fn log(destination: &str, outcome: &EduDelivery) {
    match outcome {
        EduDelivery::Idle => {}
        EduDelivery::Delivered { txn_id, edus } => info!(destination, txn_id, edus, "EDUs delivered"),
        EduDelivery::Retrying { txn_id, failures, reason, .. } => {
            info!(destination, txn_id, failures, reason, "EDU transaction failed; will retry");
        }
        EduDelivery::Dropped { txn_id, reason } => warn!(destination, txn_id, reason, "EDUs dropped"),
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
