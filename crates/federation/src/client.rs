//! The outbound federation client: discovery, the SSRF guard, X-Matrix signing, timeouts, a response size cap and
//! per-destination backoff, with every result an [`Outcome`].

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use palisade_matrix::{
    OwnedServerName, ServerName, SigningKey,
    x_matrix::{RequestTarget, sign_request},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    discovery::{Destination, Discovery, DiscoveryError, ParsedServerName, WellKnown, WellKnownConfig},
    network_policy::NetworkPolicy,
    resolver::Resolver,
    transport::{self, TlsSetupError, TransportSettings, body::BodyError, dns::PinnedDns},
};

mod backoff;
mod outcome;

pub use backoff::BackoffPolicy;
pub use outcome::Outcome;

use backoff::Backoff;

/// Settings of the outbound client.
#[derive(Clone, Debug)]
pub struct FederationConfig {
    /// Which addresses may be connected to.
    pub network_policy: NetworkPolicy,
    /// Time allowed to establish a TCP connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, from discovery to the last byte of the response.
    pub request_timeout: Duration,
    /// Larger responses are refused as [`Outcome::InvalidResponse`].
    pub max_response_bytes: usize,
    /// PEM files of extra CAs trusted for outbound TLS, on top of the platform's roots.
    pub extra_ca_files: Vec<PathBuf>,
    /// Backoff after failures.
    pub backoff: BackoffPolicy,
    /// The well-known lookup (tests move its port).
    pub well_known: WellKnownConfig,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            network_policy: NetworkPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            // Large enough for /state of big rooms, small enough not to exhaust memory.
            max_response_bytes: 64 * 1024 * 1024,
            extra_ca_files: Vec::new(),
            backoff: BackoffPolicy::default(),
            well_known: WellKnownConfig::default(),
            user_agent: format!("Palisade/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Per-request options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// Send even if the destination is backing off (e.g. a join the operator asked for right now).
    pub ignore_backoff: bool,
    /// Leave out the `Authorization` header (for endpoints that need none, e.g. `/_matrix/key/v2/server`).
    pub unsigned: bool,
}

/// Sends signed requests to other homeservers.
#[derive(Debug)]
pub struct FederationClient {
    our_name: OwnedServerName,
    key: Arc<SigningKey>,
    discovery: Discovery,
    http: reqwest::Client,
    pins: Arc<PinnedDns>,
    backoff: Backoff,
    config: FederationConfig,
}

impl FederationClient {
    /// A client sending as `our_name`, signing with `key`, looking names up through `resolver`.
    pub fn new(
        our_name: OwnedServerName,
        key: Arc<SigningKey>,
        resolver: Arc<dyn Resolver>,
        config: FederationConfig,
    ) -> Result<Self, TlsSetupError> {
        let policy = Arc::new(config.network_policy.clone());
        let settings = TransportSettings {
            connect_timeout: config.connect_timeout,
            extra_ca_files: config.extra_ca_files.clone(),
            user_agent: config.user_agent.clone(),
        };
        let well_known_http = transport::well_known_client(&settings, resolver.clone(), policy.clone())?;
        let pins = Arc::new(PinnedDns::new(policy.clone()));
        let http = transport::federation_client(&settings, pins.clone())?;
        let discovery =
            Discovery::new(resolver, policy, WellKnown::new(well_known_http, config.well_known.clone()));
        Ok(Self { our_name, key, discovery, http, pins, backoff: Backoff::new(config.backoff), config })
    }

    /// Our server name, the `origin` of every request.
    pub fn server_name(&self) -> &ServerName {
        &self.our_name
    }

    /// Discovery, for callers that want to see where a server name leads.
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    /// `GET path` on `destination`, parsing a JSON response.
    pub async fn get_json<T: DeserializeOwned>(&self, destination: &ServerName, path: &str) -> Outcome<T> {
        self.request_json(http::Method::GET, destination, path, None::<&()>, RequestOptions::default()).await
    }

    /// `PUT path` with a JSON body on `destination`, parsing a JSON response.
    pub async fn put_json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        destination: &ServerName,
        path: &str,
        body: &B,
    ) -> Outcome<T> {
        self.request_json(http::Method::PUT, destination, path, Some(body), RequestOptions::default()).await
    }

    /// `POST path` with a JSON body on `destination`, parsing a JSON response.
    pub async fn post_json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        destination: &ServerName,
        path: &str,
        body: &B,
    ) -> Outcome<T> {
        self.request_json(http::Method::POST, destination, path, Some(body), RequestOptions::default()).await
    }

    /// Any method, optional JSON body, JSON response, with explicit options.
    pub async fn request_json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: http::Method,
        destination: &ServerName,
        path: &str,
        body: Option<&B>,
        options: RequestOptions,
    ) -> Outcome<T> {
        let body = match body.map(serde_json::to_vec).transpose() {
            Ok(body) => body,
            Err(e) => return Outcome::InvalidRequest(format!("cannot serialise request body: {e}")),
        };
        self.request_bytes(method, destination, path, body, options).await.and_then(|bytes| {
            match serde_json::from_slice(&bytes) {
                Ok(value) => Outcome::Ok(value),
                Err(e) => Outcome::InvalidResponse(format!("unexpected response body: {e}")),
            }
        })
    }

    /// Sends one request and returns the raw body of a 2xx response. `path` is the path and query, already
    /// percent-encoded; it is signed exactly as sent.
    pub async fn request_bytes(
        &self,
        method: http::Method,
        destination: &ServerName,
        path: &str,
        body: Option<Vec<u8>>,
        options: RequestOptions,
    ) -> Outcome<Vec<u8>> {
        let name = destination.as_str();
        if !options.ignore_backoff
            && let Some(until) = self.backoff.backing_off_until(name, Instant::now())
        {
            return Outcome::BackingOff { until };
        }
        let exchange = self.exchange(method, destination, path, body, options);
        let outcome = match tokio::time::timeout(self.config.request_timeout, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Unreachable(format!("no response within {:?}", self.config.request_timeout)),
        };
        self.record(name, &outcome);
        outcome
    }

    /// Feeds the outcome into the backoff table: silence and server errors count against the destination,
    /// any other answer shows it is alive.
    fn record<T>(&self, destination: &str, outcome: &Outcome<T>) {
        if let Some(reason) = outcome.failure_reason() {
            tracing::debug!(destination, reason, "federation request failed");
        }
        match outcome {
            Outcome::Unreachable(_) => self.backoff.record_failure(destination, Instant::now()),
            Outcome::MatrixError { status, .. } if *status >= 500 => {
                self.backoff.record_failure(destination, Instant::now());
            }
            Outcome::Denied(_) | Outcome::BackingOff { .. } | Outcome::InvalidRequest(_) => {}
            _ => self.backoff.record_success(destination),
        }
    }

    /// Discovery, signing, sending and reading, without the overall timeout.
    async fn exchange(
        &self,
        method: http::Method,
        destination: &ServerName,
        path: &str,
        body: Option<Vec<u8>>,
        options: RequestOptions,
    ) -> Outcome<Vec<u8>> {
        let target = match self.discovery.resolve(destination.as_str()).await {
            Ok(target) => target,
            Err(DiscoveryError::Denied(denied)) => return Outcome::Denied(denied.to_string()),
            Err(e) => return Outcome::Unreachable(e.to_string()),
        };
        let url = match self.url_for(&target, path) {
            Ok(url) => url,
            Err(reason) => return Outcome::InvalidRequest(reason),
        };
        // Sign what reqwest will put on the wire: the URL parser may have normalised the path.
        let uri = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let mut request =
            self.http.request(method.clone(), url).header(http::header::HOST, &target.host_header);
        if !options.unsigned {
            let signed = RequestTarget {
                method: method.as_str(),
                uri: &uri,
                body: body.as_deref().unwrap_or_default(),
            };
            match sign_request(signed, &self.our_name, destination, &self.key) {
                Ok(auth) => request = request.header(http::header::AUTHORIZATION, auth.to_header_value()),
                Err(e) => return Outcome::InvalidRequest(format!("cannot sign request: {e}")),
            }
        }
        if let Some(body) = body {
            request = request.header(http::header::CONTENT_TYPE, "application/json").body(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Outcome::Unreachable(transport::describe_error(&e)),
        };
        let status = response.status();
        let bytes = match transport::body::read_capped(response, self.config.max_response_bytes).await {
            Ok(bytes) => bytes,
            Err(BodyError::TooLarge(max)) => {
                return Outcome::InvalidResponse(format!("response over {max} bytes"));
            }
            Err(e @ BodyError::Read(_)) => return Outcome::Unreachable(e.to_string()),
        };
        if status.is_success() { Outcome::Ok(bytes) } else { outcome::error_outcome(status.as_u16(), &bytes) }
    }

    /// The URL to request. Its authority is the `Host` header wherever possible, so HTTP/2's `:authority` agrees
    /// with it. IP literals carry the port in the URL (no resolver is consulted for them); hostnames are pinned to
    /// the discovered addresses, whose ports reqwest keeps when the URL names none (SRV and port 8448 steps) and
    /// which equal the URL's port when the server name has one.
    fn url_for(&self, target: &Destination, path: &str) -> Result<reqwest::Url, String> {
        if !path.starts_with('/') {
            return Err(format!("request path {path:?} does not start with /"));
        }
        let first =
            target.addresses.first().ok_or_else(|| format!("no addresses for {}", target.server_name))?;
        let text = if target.is_ip_literal() {
            format!("https://{}:{}{path}", target.tls_name, first.port())
        } else {
            self.pins.pin(&target.tls_name, target.addresses.clone());
            match ParsedServerName::parse(&target.host_header).ok().and_then(|name| name.port) {
                Some(port) => format!("https://{}:{port}{path}", target.tls_name),
                None => format!("https://{}{path}", target.tls_name),
            }
        };
        reqwest::Url::parse(&text).map_err(|e| format!("invalid request URL {text}: {e}"))
    }
}

#[cfg(test)]
mod tests;
