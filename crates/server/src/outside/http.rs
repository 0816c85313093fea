//! The HTTP client every outside service uses: the SSRF guard on every address, no redirects, no proxy, a timeout
//! per request and a cap on every response body.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use palisade_federation::{NetworkPolicy, Resolver};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Which addresses outside services may be reached at: the federation network policy, except that networks in
/// `exempt` are permitted even when that policy denies them.
#[derive(Clone, Debug)]
pub struct AddressGuard {
    federation: NetworkPolicy,
    exempt: Vec<IpNet>,
}

impl AddressGuard {
    /// A guard from the federation policy and the operator's exemptions.
    pub fn new(federation: NetworkPolicy, exempt: Vec<IpNet>) -> Self {
        Self { federation, exempt }
    }

    /// Checks one address; the error names it and why it is refused.
    pub fn check(&self, address: IpAddr) -> Result<(), String> {
        if self.exempt.iter().any(|net| net.contains(&address)) {
            return Ok(());
        }
        self.federation.check(address).map_err(|denied| {
            format!("{denied}; allow it for outside services with outside.allowed_networks")
        })
    }
}

/// Why an outside request failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutsideError {
    /// The URL or one of its addresses is refused by the SSRF guard; nothing was connected to.
    #[error("refused to contact {url}: {reason}")]
    Refused {
        /// The refused URL (without query).
        url: String,
        /// Why.
        reason: String,
    },
    /// No complete answer within the request timeout.
    #[error("{service} gave no answer within {timeout:?}")]
    Timeout {
        /// The service.
        service: &'static str,
        /// The limit.
        timeout: Duration,
    },
    /// A non-success status.
    #[error("{service} answered HTTP {status}")]
    Status {
        /// The service.
        service: &'static str,
        /// The status code.
        status: u16,
    },
    /// The response body exceeded the cap.
    #[error("{service} response is larger than {max} bytes")]
    TooLarge {
        /// The service.
        service: &'static str,
        /// The cap.
        max: usize,
    },
    /// Connecting, sending or reading failed.
    #[error("{service} unreachable: {reason}")]
    Transport {
        /// The service.
        service: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The answer is not what the service's API promises.
    #[error("{service} sent an unexpected response: {reason}")]
    BadResponse {
        /// The service.
        service: &'static str,
        /// What was wrong with it.
        reason: String,
    },
}

/// A request to send: method, URL, headers and body.
#[derive(Debug)]
pub struct OutsideRequest<'a> {
    /// The service's name, for errors and logs.
    pub service: &'static str,
    /// `GET` or `POST`.
    pub method: reqwest::Method,
    /// The full URL.
    pub url: reqwest::Url,
    /// `Authorization: Bearer <token>` when set.
    pub bearer: Option<&'a str>,
    /// Body and its content type.
    pub body: Option<(String, Vec<u8>)>,
    /// Largest accepted response body.
    pub max_response_bytes: usize,
}

/// The guarded client (cheap to clone).
#[derive(Clone, Debug)]
pub struct OutsideHttp {
    client: reqwest::Client,
    guard: Arc<AddressGuard>,
    timeout: Duration,
}

impl OutsideHttp {
    /// A client that resolves names through `resolver` and connects only to addresses `guard` permits.
    pub fn new(
        guard: Arc<AddressGuard>,
        resolver: Arc<dyn Resolver>,
        timeout: Duration,
    ) -> Result<Self, String> {
        // reqwest is built without a TLS provider of its own; the first one installed stays.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout)
            .user_agent(format!("Palisade/{}", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedDns { resolver, guard: guard.clone() }))
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(Self { client, guard, timeout })
    }

    /// Parses `url` and refuses schemes other than http(s) and hosts the guard refuses (IP literals never reach
    /// the resolver, so they are checked here).
    pub fn checked_url(&self, url: &str) -> Result<reqwest::Url, OutsideError> {
        let refused = |reason: String| OutsideError::Refused { url: without_query(url), reason };
        let parsed = reqwest::Url::parse(url).map_err(|e| refused(format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(refused(format!("scheme {:?} is not http(s)", parsed.scheme())));
        }
        let host = parsed.host_str().ok_or_else(|| refused("no host".to_owned()))?;
        let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if let Ok(ip) = literal.parse::<IpAddr>() {
            self.guard.check(ip).map_err(refused)?;
        }
        Ok(parsed)
    }

    /// Sends one request and returns the body of a 2xx answer, within the timeout and the size cap.
    pub async fn send(&self, request: OutsideRequest<'_>) -> Result<Vec<u8>, OutsideError> {
        let service = request.service;
        let shown_url = without_query(request.url.as_str());
        // Re-checked here too, so no caller can skip the guard by building the URL itself.
        let url = self.checked_url(request.url.as_str())?;
        let mut builder = self.client.request(request.method, url);
        if let Some(token) = request.bearer {
            builder = builder.header(::http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some((content_type, body)) = request.body {
            builder = builder.header(::http::header::CONTENT_TYPE, content_type).body(body);
        }
        let max = request.max_response_bytes;
        let exchange = async move {
            let response = builder.send().await.map_err(|e| describe(service, &shown_url, &e))?;
            let status = response.status();
            if !status.is_success() {
                return Err(OutsideError::Status { service, status: status.as_u16() });
            }
            read_capped(service, response, max).await
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(OutsideError::Timeout { service, timeout: self.timeout }))
    }
}

/// Reads the whole body, failing as soon as it exceeds `max` bytes.
async fn read_capped(
    service: &'static str,
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, OutsideError> {
    if response.content_length().is_some_and(|length| length > max as u64) {
        return Err(OutsideError::TooLarge { service, max });
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| OutsideError::Transport { service, reason: chain(&e) })?
    {
        if body.len() + chunk.len() > max {
            return Err(OutsideError::TooLarge { service, max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error; a refusal by the guarded resolver is reported as [`OutsideError::Refused`].
fn describe(service: &'static str, url: &str, error: &reqwest::Error) -> OutsideError {
    let text = chain(error);
    match text.find(DENIED_MARKER) {
        Some(at) => OutsideError::Refused {
            url: url.to_owned(),
            reason: text[at + DENIED_MARKER.len()..].trim().to_owned(),
        },
        None => OutsideError::Transport { service, reason: text },
    }
}

/// An error with its causes.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_owned()
}

/// Prefix of the resolver's refusal, found again in reqwest's error chain.
const DENIED_MARKER: &str = "outside-service address refused:";

/// Resolves names and keeps only addresses the guard permits; fails naming the refusal if none is left.
#[derive(Debug)]
struct GuardedDns {
    resolver: Arc<dyn Resolver>,
    guard: Arc<AddressGuard>,
}

impl Resolve for GuardedDns {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.resolver.clone();
        let guard = self.guard.clone();
        Box::pin(async move {
            let ips = resolver.lookup_ip(name.as_str()).await?;
            let mut refusal = None;
            let permitted: Vec<SocketAddr> = ips
                .into_iter()
                .filter(|ip| match guard.check(*ip) {
                    Ok(()) => true,
                    Err(reason) => {
                        refusal.get_or_insert(reason);
                        false
                    }
                })
                // Port 0: reqwest uses the URL's port.
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            match (permitted.is_empty(), refusal) {
                (false, _) => Ok(Box::new(permitted.into_iter()) as Addrs),
                (true, Some(reason)) => Err(format!("{DENIED_MARKER} {} {reason}", name.as_str()).into()),
                (true, None) => Err(format!("no addresses for {}", name.as_str()).into()),
            }
        })
    }
}
