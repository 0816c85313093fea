//! The HTTP clients underneath federation: TLS with optional extra CAs, timeouts, no redirects, and DNS resolvers
//! that only ever hand out addresses the network policy permits.

use std::{path::PathBuf, sync::Arc, time::Duration};

use crate::{network_policy::NetworkPolicy, resolver::Resolver};

pub(crate) mod body;
pub(crate) mod dns;
pub(crate) mod tls;

pub use tls::TlsSetupError;

/// Connection settings shared by both clients.
#[derive(Clone, Debug)]
pub(crate) struct TransportSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) extra_ca_files: Vec<PathBuf>,
    pub(crate) user_agent: String,
}

/// Builds the client for well-known lookups: ordinary DNS through `resolver`, filtered by `policy`.
pub(crate) fn well_known_client(
    settings: &TransportSettings,
    resolver: Arc<dyn Resolver>,
    policy: Arc<NetworkPolicy>,
) -> Result<reqwest::Client, TlsSetupError> {
    build(settings, Arc::new(dns::GuardedDns::new(resolver, policy)))
}

/// Builds the client for federation requests: it connects only to addresses pinned by discovery.
pub(crate) fn federation_client(
    settings: &TransportSettings,
    pins: Arc<dns::PinnedDns>,
) -> Result<reqwest::Client, TlsSetupError> {
    build(settings, pins)
}

/// Common builder: no redirects (a redirect could point anywhere, past discovery), no proxy from the
/// environment (it would bypass the address checks), the given resolver, and our TLS roots.
fn build(
    settings: &TransportSettings,
    resolver: Arc<dyn reqwest::dns::Resolve>,
) -> Result<reqwest::Client, TlsSetupError> {
    tls::install_crypto_provider();
    let extra_roots = tls::load_extra_roots(&settings.extra_ca_files)?;
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(settings.connect_timeout)
        .user_agent(settings.user_agent.clone())
        .dns_resolver(resolver)
        .tls_certs_merge(extra_roots)
        .build()
        .map_err(|e| TlsSetupError::Client(describe_error(&e)))
}

/// A reqwest error with its causes, since the top-level message alone ("error sending request") says little.
pub(crate) fn describe_error(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
