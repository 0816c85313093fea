//! An in-memory resolver: fixed answers, for tests and for pinning names in configuration.

use std::{collections::HashMap, net::IpAddr};

use super::{DnsError, Resolver, SrvRecord};

/// Answers from tables; unknown names have no records.
#[derive(Clone, Debug, Default)]
pub struct StaticResolver {
    hosts: HashMap<String, Vec<IpAddr>>,
    srv: HashMap<String, Vec<SrvRecord>>,
    failing: Vec<String>,
}

impl StaticResolver {
    /// An empty resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an address for `host`.
    pub fn with_host(mut self, host: &str, address: IpAddr) -> Self {
        self.hosts.entry(host.to_ascii_lowercase()).or_default().push(address);
        self
    }

    /// Adds an SRV record under `name` (e.g. `_matrix-fed._tcp.example.org`).
    pub fn with_srv(mut self, name: &str, priority: u16, weight: u16, port: u16, target: &str) -> Self {
        let record = SrvRecord { priority, weight, port, target: target.to_owned() };
        self.srv.entry(name.to_ascii_lowercase()).or_default().push(record);
        self
    }

    /// Makes every lookup of `name` fail, as a DNS server error would.
    pub fn with_failure(mut self, name: &str) -> Self {
        self.failing.push(name.to_ascii_lowercase());
        self
    }

    /// The error for a name marked failing.
    fn failure(&self, name: &str) -> Result<(), DnsError> {
        if self.failing.contains(&name.to_ascii_lowercase()) {
            return Err(DnsError { name: name.to_owned(), reason: "SERVFAIL".to_owned() });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Resolver for StaticResolver {
    async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        self.failure(host)?;
        Ok(self.hosts.get(&host.to_ascii_lowercase()).cloned().unwrap_or_default())
    }

    async fn lookup_srv(&self, name: &str) -> Result<Vec<SrvRecord>, DnsError> {
        self.failure(name)?;
        Ok(self.srv.get(&name.to_ascii_lowercase()).cloned().unwrap_or_default())
    }
}
