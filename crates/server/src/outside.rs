//! Clients of the outside services the filters consult: OpenAI omni moderation (a [`TextClassifier`]), a
//! Hasher-Matcher-Actioner instance with media downloads (a [`MediaScanner`]) and the Muninn Hall member directory
//! (trust data for the untrusted-media filter).
//!
//! Every request goes through [`http::OutsideHttp`]: the SSRF guard on every address (the federation deny list,
//! minus networks the operator allowlisted for outside services), no redirects, no proxy from the environment, a
//! timeout and a response size cap. A `/sign` request gives all of them together at most [`OutsideServices::budget`]
//! ([`budget`]); when it runs out the filters' fail-secure / fail-open settings decide, as for any other failure.

pub mod budget;
pub mod hma;
pub mod http;
pub mod media;
pub mod muninn;
pub mod openai;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use palisade_federation::{FederationClient, NetworkPolicy, Resolver};
use palisade_policy::handles::{MediaScanner, TextClassifier};

pub use budget::{Budgeted, Deadline};
pub use hma::HmaScanner;
pub use http::{AddressGuard, OutsideError, OutsideHttp};
pub use media::MediaDownloader;
pub use muninn::{MuninnClient, TrustCache};
pub use openai::OpenAiClassifier;

use crate::config::Config;

/// The default time budget for outside services per `/sign` request: well under the 30 s Synapse waits for an
/// answer, so a slow service costs the event its neutral answer, never the answer itself.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(5);

/// The outside services an evaluator consults, each `None` when not configured.
#[derive(Clone, Debug)]
pub struct OutsideServices {
    /// OpenAI omni moderation.
    pub classifier: Option<Arc<dyn TextClassifier>>,
    /// HMA hash matching (with media downloads).
    pub scanner: Option<Arc<dyn MediaScanner>>,
    /// Trust data refreshed from the Muninn Hall directory.
    pub trust: TrustCache,
    /// The longest time outside services may add to one `/sign` answer.
    pub budget: Duration,
}

impl Default for OutsideServices {
    fn default() -> Self {
        Self { classifier: None, scanner: None, trust: TrustCache::default(), budget: DEFAULT_BUDGET }
    }
}

/// Why the outside-service clients could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OutsideSetupError {
    /// The configured networks do not make a network policy.
    #[error("outside services: bad network list: {0}")]
    Networks(String),
    /// The HTTP client could not be built.
    #[error("outside services: {0}")]
    Client(String),
}

/// The network policy outside services are held to: the federation policy, except for networks the operator
/// allowlisted for them (an HMA instance on the private network, say).
pub fn address_guard(config: &Config) -> Result<AddressGuard, OutsideSetupError> {
    let to_strings =
        |nets: &[crate::config::Network]| nets.iter().map(ToString::to_string).collect::<Vec<_>>();
    let federation = NetworkPolicy::from_cidrs(
        to_strings(&config.federation.allowed_networks),
        to_strings(&config.federation.denied_networks),
    )
    .map_err(|e| OutsideSetupError::Networks(e.to_string()))?;
    let exempt = config.outside.allowed_networks.iter().map(|n| n.net()).collect();
    Ok(AddressGuard::new(federation, exempt))
}

/// Builds the configured clients. The Muninn client is returned separately: it is polled in the background
/// ([`muninn::spawn_poller`]), not asked per request.
///
/// Media is downloaded through `media.client_url` when `media.access_token` is set (policyserv's way), otherwise
/// over federation with `federation` (when given) from each media's origin server.
pub fn build(
    config: &Config,
    resolver: Arc<dyn Resolver>,
    federation: Option<Arc<FederationClient>>,
) -> Result<(OutsideServices, Option<MuninnClient>), OutsideSetupError> {
    let guard = Arc::new(address_guard(config)?);
    let timeout = Duration::from_millis(config.outside.request_timeout_ms.into());
    let http = OutsideHttp::new(guard, resolver, timeout).map_err(OutsideSetupError::Client)?;
    let classifier = config.openai.api_key.as_ref().map(|key| {
        Arc::new(OpenAiClassifier::new(http.clone(), config.openai.api_url.as_str(), key.expose()))
            as Arc<dyn TextClassifier>
    });
    let scanner = config.hma.api_url.as_ref().map(|url| {
        let max_bytes = usize::try_from(config.outside.max_media_bytes).unwrap_or(usize::MAX);
        let token = config.media.access_token.as_ref().map(|t| t.expose().to_owned());
        let downloader = match (&token, &federation) {
            (None, Some(federation)) => {
                MediaDownloader::over_federation(http.clone(), federation.clone(), max_bytes)
            }
            _ => MediaDownloader::new(http.clone(), config.media.client_url.as_str(), token, max_bytes),
        };
        let key = config.hma.api_key.as_ref().map(|k| k.expose().to_owned());
        Arc::new(HmaScanner::new(http.clone(), url.as_str(), key, downloader)) as Arc<dyn MediaScanner>
    });
    let muninn = config
        .muninn
        .api_key
        .as_ref()
        .map(|key| MuninnClient::new(http.clone(), config.muninn.api_url.as_str(), key.expose()));
    let services = OutsideServices {
        classifier,
        scanner,
        trust: TrustCache::default(),
        budget: Duration::from_millis(config.outside.time_budget_ms.into()),
    };
    Ok((services, muninn))
}

/// What `palisade serve` runs: builds the configured clients with the system resolver, loads the stored Muninn
/// Hall data and starts its poller.
pub async fn start(
    config: &Config,
    store: Arc<dyn palisade_store::Store>,
    federation: Arc<FederationClient>,
) -> Result<OutsideServices, OutsideSetupError> {
    let resolver = palisade_federation::HickoryResolver::from_system_config()
        .map_err(|e| OutsideSetupError::Client(e.to_string()))?;
    let (services, muninn) = build(config, Arc::new(resolver), Some(federation))?;
    if let Err(error) = services.trust.load(store.as_ref()).await {
        tracing::warn!(%error, "could not load the stored Muninn Hall directory");
    }
    if let Some(client) = muninn {
        drop(muninn::spawn_poller(client, services.trust.clone(), store));
    }
    Ok(services)
}
