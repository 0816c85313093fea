//! DNS lookups, behind a trait so discovery is tested with an in-memory resolver.

use std::net::IpAddr;

mod hickory;
mod static_resolver;

pub use hickory::HickoryResolver;
pub use static_resolver::StaticResolver;

/// One SRV record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower is preferred.
    pub priority: u16,
    /// Among equal priorities, higher is preferred.
    pub weight: u16,
    /// The port to connect to.
    pub port: u16,
    /// The host to resolve, without a trailing dot.
    pub target: String,
}

/// A lookup that failed for another reason than "no such records" (which is an empty answer).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("DNS lookup for {name} failed: {reason}")]
pub struct DnsError {
    /// The name looked up.
    pub name: String,
    /// What went wrong.
    pub reason: String,
}

/// Hostname and SRV lookups. A name with no records answers `Ok(vec![])`.
#[async_trait::async_trait]
pub trait Resolver: Send + Sync + std::fmt::Debug {
    /// The A and AAAA addresses of `host`.
    async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, DnsError>;

    /// The SRV records of `name`, e.g. `_matrix-fed._tcp.example.org`.
    async fn lookup_srv(&self, name: &str) -> Result<Vec<SrvRecord>, DnsError>;
}
