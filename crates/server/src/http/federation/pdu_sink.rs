//! Where the PDUs of inbound `/send` transactions go once they passed the checks.
//!
//! The HTTP layer only authenticates, parses and verifies; what to learn from an event (room state, policy
//! changes, verdicts) belongs to the layers below. They receive the events through this trait, so `/send` does
//! not depend on them and tests can count what arrives.

use async_trait::async_trait;
use palisade_matrix::Pdu;

/// Receives accepted PDUs, grouped by room in transaction order.
///
/// Called once per room per transaction, after every PDU of the transaction was checked. A retried transaction
/// is answered from the stored response and does not reach the sink again.
#[async_trait]
pub trait PduSink: Send + Sync {
    /// Takes the checked PDUs of one room (room version known, content hash and signatures verified).
    async fn accept(&self, room_id: &str, pdus: Vec<Pdu>);
}

/// A sink that drops everything: the default until a room-state tracker is wired in.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiscardPdus;

#[async_trait]
impl PduSink for DiscardPdus {
    async fn accept(&self, room_id: &str, pdus: Vec<Pdu>) {
        tracing::debug!(room_id, count = pdus.len(), "no PDU sink configured; accepted PDUs dropped");
    }
}
