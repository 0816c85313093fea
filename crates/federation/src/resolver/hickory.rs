//! The production resolver: hickory with the system's DNS configuration.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::{
    TokioResolver,
    config::{ConnectionConfig, NameServerConfig, ResolverConfig},
    net::runtime::TokioRuntimeProvider,
    proto::rr::RData,
};

use super::{DnsError, Resolver, SrvRecord};

/// DNS through hickory, which also caches answers for their TTL.
#[derive(Clone)]
pub struct HickoryResolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for HickoryResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HickoryResolver").finish_non_exhaustive()
    }
}

impl HickoryResolver {
    /// A resolver using `/etc/resolv.conf`.
    pub fn from_system_config() -> Result<Self, DnsError> {
        let error =
            |e: &dyn std::fmt::Display| DnsError { name: "<system>".to_owned(), reason: e.to_string() };
        let inner = TokioResolver::builder_tokio().map_err(|e| error(&e))?.build().map_err(|e| error(&e))?;
        Ok(Self { inner })
    }

    /// A resolver asking only the given DNS servers (UDP, then TCP), for setups without a usable
    /// `/etc/resolv.conf` or that want federation lookups to go through a dedicated resolver.
    pub fn with_name_servers(servers: &[SocketAddr]) -> Result<Self, DnsError> {
        let name_servers = servers
            .iter()
            .map(|server| {
                let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                    .into_iter()
                    .map(|mut connection| {
                        connection.port = server.port();
                        connection
                    })
                    .collect();
                NameServerConfig::new(server.ip(), true, connections)
            })
            .collect();
        let config = ResolverConfig::from_name_servers(name_servers);
        let inner = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .build()
            .map_err(|e| DnsError { name: "<configured>".to_owned(), reason: e.to_string() })?;
        Ok(Self { inner })
    }
}

/// Names are looked up fully qualified, so the system's search domains are never appended to a remote name.
fn fully_qualified(name: &str) -> String {
    if name.ends_with('.') { name.to_owned() } else { format!("{name}.") }
}

#[async_trait::async_trait]
impl Resolver for HickoryResolver {
    async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        match self.inner.lookup_ip(fully_qualified(host)).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(DnsError { name: host.to_owned(), reason: e.to_string() }),
        }
    }

    async fn lookup_srv(&self, name: &str) -> Result<Vec<SrvRecord>, DnsError> {
        match self.inner.srv_lookup(fully_qualified(name)).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::SRV(srv) => Some(SrvRecord {
                        priority: srv.priority,
                        weight: srv.weight,
                        port: srv.port,
                        target: srv.target.to_utf8().trim_end_matches('.').to_owned(),
                    }),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(DnsError { name: name.to_owned(), reason: e.to_string() }),
        }
    }
}

#[cfg(test)]
mod tests;
