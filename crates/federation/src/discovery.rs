//! Server discovery ("Resolving server names" in the server-server API): from a server name to the addresses to
//! connect to, the `Host` header to send and the name the TLS certificate must carry.
//!
//! The steps mirror the spec's numbered list; [`Step`] records which one produced a [`Destination`]. Every
//! resolved address passes the [`NetworkPolicy`] here, before anything connects to it.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use crate::{
    network_policy::{AddressDenied, NetworkPolicy},
    resolver::{DnsError, Resolver, SrvRecord},
};

pub mod cache_lifetime;
pub mod server_name;
mod well_known;

pub use server_name::{Host, InvalidServerName, ParsedServerName};
pub(crate) use well_known::WellKnown;
pub use well_known::WellKnownConfig;

/// The federation port used when nothing else names one.
pub const DEFAULT_FEDERATION_PORT: u16 = 8448;

/// At most this many SRV targets are resolved, so a hostile zone cannot make us do unbounded lookups.
const MAX_SRV_TARGETS: usize = 8;

/// Which step of the spec's list found the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The (delegated) name is an IP literal; its port or 8448.
    IpLiteral,
    /// The (delegated) name has an explicit port; its hostname's A/AAAA records.
    ExplicitPort,
    /// An SRV record `_matrix-fed._tcp.<hostname>`.
    SrvFederation,
    /// The deprecated SRV record `_matrix._tcp.<hostname>`.
    SrvLegacy,
    /// The hostname's A/AAAA records on port 8448.
    DefaultPort,
}

/// Where to send requests for one server name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The server name asked about.
    pub server_name: String,
    /// The server name delegated to by `/.well-known/matrix/server` (step 3), if any.
    pub delegated_to: Option<String>,
    /// The step that produced the addresses.
    pub step: Step,
    /// The `Host` header: the (delegated) server name, with its port if it had one.
    pub host_header: String,
    /// The name the certificate must be valid for: the (delegated) hostname or IP literal, `[v6]` bracketed.
    pub tls_name: String,
    /// Addresses to try in order, all permitted by the network policy.
    pub addresses: Vec<SocketAddr>,
}

impl Destination {
    /// Whether the TLS name is an IP literal (then no DNS is involved in connecting).
    pub fn is_ip_literal(&self) -> bool {
        matches!(ParsedServerName::parse(&self.host_header).map(|p| p.host), Ok(Host::Ip(_)))
    }
}

/// Why a server name could not be resolved to a destination.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The server name (or the delegated name) is malformed.
    #[error(transparent)]
    InvalidServerName(#[from] InvalidServerName),
    /// A DNS lookup failed.
    #[error(transparent)]
    Dns(#[from] DnsError),
    /// No addresses at all were found.
    #[error("no addresses found for {0}")]
    NoAddresses(String),
    /// Addresses were found, but the network policy refused every one.
    #[error(transparent)]
    Denied(#[from] AddressDenied),
}

/// Resolves server names.
#[derive(Debug)]
pub struct Discovery {
    resolver: Arc<dyn Resolver>,
    policy: Arc<NetworkPolicy>,
    well_known: WellKnown,
}

impl Discovery {
    /// Discovery over `resolver`, checking addresses against `policy`, with `well_known` for step 3.
    pub(crate) fn new(
        resolver: Arc<dyn Resolver>,
        policy: Arc<NetworkPolicy>,
        well_known: WellKnown,
    ) -> Self {
        Self { resolver, policy, well_known }
    }

    /// Runs the spec's steps for `server_name`.
    pub async fn resolve(&self, server_name: &str) -> Result<Destination, DiscoveryError> {
        let parsed = ParsedServerName::parse(server_name)?;
        let hostname = match (&parsed.host, parsed.port) {
            // Steps 1 and 2 need no well-known lookup.
            (Host::Ip(_), _) | (Host::Name(_), Some(_)) => {
                return self.resolve_direct(server_name, None).await;
            }
            (Host::Name(hostname), None) => hostname.clone(),
        };
        // Step 3: a delegation, which then goes through steps 3.1–3.5 on the delegated name.
        if let Some(delegated) = self.well_known.delegation(&hostname).await {
            return self.resolve_direct(server_name, Some(delegated)).await;
        }
        // Steps 4–6 on the original hostname.
        self.resolve_direct(server_name, None).await
    }

    /// Steps 1/2/4/5/6 (or 3.1–3.5 when `delegated` is set) on `delegated` or else `server_name`, without any
    /// further well-known lookup.
    async fn resolve_direct(
        &self,
        server_name: &str,
        delegated: Option<String>,
    ) -> Result<Destination, DiscoveryError> {
        let target = delegated.as_deref().unwrap_or(server_name);
        let parsed = ParsedServerName::parse(target)?;
        let tls_name = parsed.host_text();
        let (step, addresses) = match (&parsed.host, parsed.port) {
            (Host::Ip(ip), port) => {
                (Step::IpLiteral, vec![SocketAddr::new(*ip, port.unwrap_or(DEFAULT_FEDERATION_PORT))])
            }
            (Host::Name(hostname), Some(port)) => {
                (Step::ExplicitPort, self.host_addresses(hostname, port).await?)
            }
            (Host::Name(hostname), None) => self.srv_or_default(hostname).await?,
        };
        Ok(Destination {
            server_name: server_name.to_owned(),
            delegated_to: delegated.clone(),
            step,
            host_header: target.to_owned(),
            tls_name,
            addresses: self.permitted(target, addresses)?,
        })
    }

    /// Steps 4–6: `_matrix-fed._tcp`, then `_matrix._tcp`, then port 8448.
    async fn srv_or_default(&self, hostname: &str) -> Result<(Step, Vec<SocketAddr>), DiscoveryError> {
        for (step, prefix) in [(Step::SrvFederation, "_matrix-fed._tcp"), (Step::SrvLegacy, "_matrix._tcp")] {
            let records = self.resolver.lookup_srv(&format!("{prefix}.{hostname}")).await?;
            let addresses = self.srv_addresses(records).await?;
            if !addresses.is_empty() {
                return Ok((step, addresses));
            }
        }
        Ok((Step::DefaultPort, self.host_addresses(hostname, DEFAULT_FEDERATION_PORT).await?))
    }

    /// The addresses of SRV targets in preference order (priority ascending, then weight descending).
    /// A target of `.` means "no service" and contributes nothing.
    async fn srv_addresses(&self, mut records: Vec<SrvRecord>) -> Result<Vec<SocketAddr>, DiscoveryError> {
        records.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
        let mut addresses = Vec::new();
        for record in records.iter().filter(|r| !r.target.is_empty() && r.target != ".").take(MAX_SRV_TARGETS)
        {
            let ips = match record.target.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => self.resolver.lookup_ip(&record.target).await?,
            };
            addresses.extend(ips.into_iter().map(|ip| SocketAddr::new(ip, record.port)));
        }
        Ok(addresses)
    }

    /// A/AAAA records of `hostname` on `port`.
    async fn host_addresses(&self, hostname: &str, port: u16) -> Result<Vec<SocketAddr>, DiscoveryError> {
        let ips = self.resolver.lookup_ip(hostname).await?;
        Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
    }

    /// Drops addresses the policy refuses; an error if nothing is left.
    fn permitted(&self, name: &str, addresses: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, DiscoveryError> {
        let mut first_denial = None;
        let mut permitted = Vec::with_capacity(addresses.len());
        for address in addresses {
            match self.policy.check(address.ip()) {
                Ok(()) => permitted.push(address),
                Err(denied) => {
                    tracing::debug!(name, %denied, "discovered address refused by the network policy");
                    first_denial.get_or_insert(denied);
                }
            }
        }
        match (permitted.is_empty(), first_denial) {
            (false, _) => Ok(permitted),
            (true, Some(denied)) => Err(DiscoveryError::Denied(denied)),
            (true, None) => Err(DiscoveryError::NoAddresses(name.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests;
