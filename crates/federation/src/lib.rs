//! Palisade's federation layer: how we reach other homeservers.
//!
//! * [`network_policy`]: the SSRF guard every outbound address passes.
//! * [`resolver`]: DNS behind a trait ([`HickoryResolver`] in production, [`StaticResolver`] in tests).
//! * [`discovery`]: the spec's server-name resolution steps.
//! * [`client`]: the signed outbound client with timeouts, size cap and backoff, answering with [`Outcome`]s.
//! * [`keyring`]: fetching other servers' signing keys, directly and through notaries, behind a [`KeyCache`].
//! * [`room_state`]: the live room-state tracker, applying authorised state events to the stored snapshot.
//! * [`membership`]: joining and leaving rooms (make_join/send_join, make_leave/send_leave).
//! * [`edu_sender`]: delivering the store's outbound EDU queue with `PUT /send/{txnId}`.

pub mod client;
pub mod discovery;
pub mod edu_sender;
pub mod in_flight;
pub mod keyring;
pub mod membership;
pub mod network_policy;
pub mod resolver;
pub mod room_state;
mod transport;

pub use client::{BackoffPolicy, FederationClient, FederationConfig, Outcome, RequestOptions};
pub use discovery::{Destination, Discovery, DiscoveryError, Step, WellKnownConfig};
pub use edu_sender::{EduDelivery, EduSender, EduSenderSettings};
pub use in_flight::InFlight;
pub use keyring::{
    KeyCache, KeyFetchError, Keyring, KeyringConfig, MemoryKeyCache, NotaryServer, StoreKeyCache,
};
pub use network_policy::{AddressDenied, NetworkPolicy};
pub use resolver::{DnsError, HickoryResolver, Resolver, SrvRecord, StaticResolver};
pub use transport::TlsSetupError;

#[cfg(test)]
mod test_support;
