//! reqwest DNS resolvers that enforce the network policy.
//!
//! reqwest connects to whatever its resolver returns, so putting the guard in the resolver covers every connection
//! it makes for a hostname. IP-literal URLs never reach a resolver and are checked by discovery instead.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::{network_policy::NetworkPolicy, resolver::Resolver};

/// Resolves through our [`Resolver`] and drops refused addresses; fails if none is left.
#[derive(Debug)]
pub(crate) struct GuardedDns {
    resolver: Arc<dyn Resolver>,
    policy: Arc<NetworkPolicy>,
}

impl GuardedDns {
    pub(crate) fn new(resolver: Arc<dyn Resolver>, policy: Arc<NetworkPolicy>) -> Self {
        Self { resolver, policy }
    }
}

impl Resolve for GuardedDns {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.resolver.clone();
        let policy = self.policy.clone();
        Box::pin(async move {
            let ips = resolver.lookup_ip(name.as_str()).await?;
            let mut denial = None;
            let permitted: Vec<SocketAddr> = ips
                .into_iter()
                .filter(|ip| match policy.check(*ip) {
                    Ok(()) => true,
                    Err(denied) => {
                        denial.get_or_insert(denied);
                        false
                    }
                })
                // Port 0 makes reqwest use the URL's port.
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            match (permitted.is_empty(), denial) {
                (false, _) => Ok(Box::new(permitted.into_iter()) as Addrs),
                (true, Some(denied)) => Err(denied.into()),
                (true, None) => Err(format!("no addresses for {}", name.as_str()).into()),
            }
        })
    }
}

/// Answers only for names discovery has pinned, with the addresses (and ports) it found.
///
/// Pins are keyed by TLS name, which is also what reqwest asks for. Two server names delegating to one hostname
/// through different routes share a pin; both routes were checked by the guard, so at worst a request goes to the
/// other route's (permitted) addresses of the same TLS name.
#[derive(Debug)]
pub(crate) struct PinnedDns {
    policy: Arc<NetworkPolicy>,
    pins: Mutex<HashMap<String, Vec<SocketAddr>>>,
}

impl PinnedDns {
    pub(crate) fn new(policy: Arc<NetworkPolicy>) -> Self {
        Self { policy, pins: Mutex::new(HashMap::new()) }
    }

    /// Pins `tls_name` to `addresses` (replacing any earlier pin).
    pub(crate) fn pin(&self, tls_name: &str, addresses: Vec<SocketAddr>) {
        if let Ok(mut pins) = self.pins.lock() {
            pins.insert(tls_name.to_ascii_lowercase(), addresses);
        }
    }

    /// The pinned, still-permitted addresses of `name`.
    fn lookup(&self, name: &str) -> Result<Vec<SocketAddr>, String> {
        let pins = self.pins.lock().map_err(|_| "pin table poisoned".to_owned())?;
        let addresses =
            pins.get(&name.to_ascii_lowercase()).ok_or_else(|| format!("{name} was not discovered"))?;
        // Checked again although discovery already filtered: the policy is the last word before connecting.
        let permitted: Vec<SocketAddr> =
            addresses.iter().copied().filter(|a| self.policy.permits(a.ip())).collect();
        if permitted.is_empty() {
            return Err(format!("every address of {name} is denied"));
        }
        Ok(permitted)
    }
}

impl Resolve for PinnedDns {
    fn resolve(&self, name: Name) -> Resolving {
        let result = self.lookup(name.as_str());
        Box::pin(async move {
            match result {
                Ok(addresses) => Ok(Box::new(addresses.into_iter()) as Addrs),
                Err(reason) => Err(reason.into()),
            }
        })
    }
}
