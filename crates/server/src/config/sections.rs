//! The sections of the configuration file and their defaults.
//!
//! Defaults live here and nowhere else; `docs/configuration.md` is generated from them (see `docs.rs`).
//! Where Palisade's default differs from policyserv's, the field documentation says why.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::bind::BindAddress;
use super::database_url::DatabaseUrl;
use super::http_url::HttpUrl;
use super::invites::AcceptInvites;
use super::matrix_id::{Localpart, RoomId};
use super::network::{Network, networks};
use super::notary::NotaryServer;
use super::optional;
use super::secret::Secret;
use super::server_name::ServerName;
use super::support_contact::SupportContact;

/// `[listen]`: the HTTP listeners.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// Federation, `/sign`, well-known, admin API and health.
    pub http: BindAddress,
    /// Prometheus `/metrics`.
    pub metrics: BindAddress,
    /// Profiling/debug listener; `None` (written `""`) keeps it off.
    #[serde(with = "optional")]
    pub pprof: Option<BindAddress>,
    /// PEM certificate chain for serving HTTPS on `http` directly; unset = plain HTTP behind a proxy.
    #[serde(with = "optional")]
    pub tls_certificate: Option<PathBuf>,
    /// PEM private key matching `tls_certificate`.
    #[serde(with = "optional")]
    pub tls_private_key: Option<PathBuf>,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            http: BindAddress::from(std::net::SocketAddr::from(([0, 0, 0, 0], 8080))),
            metrics: BindAddress::from(std::net::SocketAddr::from(([0, 0, 0, 0], 8081))),
            pprof: None,
            tls_certificate: None,
            tls_private_key: None,
        }
    }
}

/// `[keys]`: the two ed25519 key files.
///
/// policyserv defaults both to `./signing.key` outside Docker, so one key signs federation requests and policy
/// signatures; MSC4284 asks for separate keys, so Palisade's defaults differ and equal paths are refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Keys {
    /// The server's federation signing key (`ed25519:<version>`).
    pub federation: PathBuf,
    /// The policy key behind `ed25519:policy_server` signatures.
    pub policy: PathBuf,
}

impl Default for Keys {
    fn default() -> Self {
        Self { federation: PathBuf::from("./data/signing.key"), policy: PathBuf::from("./data/policy.key") }
    }
}

/// `[database]`: where verdicts, communities and caches are stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Database {
    /// Read-write database. SQLite by default so a single instance needs nothing else; PostgreSQL for several.
    pub url: DatabaseUrl,
    /// Most open connections to `url`.
    pub max_open_connections: u32,
    /// Most idle connections kept to `url`.
    pub max_idle_connections: u32,
    /// Optional read-only replica (PostgreSQL) for queries.
    #[serde(with = "optional")]
    pub read_url: Option<DatabaseUrl>,
    /// Most open connections to `read_url`.
    pub read_max_open_connections: u32,
    /// Most idle connections kept to `read_url`.
    pub read_max_idle_connections: u32,
    /// Verdicts (with traces), media-scan results and stored transaction responses older than this many days
    /// are pruned by a background job; `0` keeps them forever. Rooms, room state and communities are never pruned.
    pub retention_days: u32,
}

impl Default for Database {
    fn default() -> Self {
        Self {
            url: DatabaseUrl::trusted("sqlite://./data/palisade.db"),
            max_open_connections: 10,
            max_idle_connections: 5,
            read_url: None,
            read_max_open_connections: 10,
            read_max_idle_connections: 5,
            retention_days: 90,
        }
    }
}

/// `[api]`: the admin API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Api {
    /// Bearer key of the admin API; unset disables the admin API.
    #[serde(with = "optional")]
    pub key: Option<Secret>,
}

/// `[federation]`: keys of other servers, outbound requests, joins and state learning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Federation {
    /// Notary asked for other servers' keys; unset requires `direct_key_fetching`.
    #[serde(with = "optional")]
    pub key_query_server: Option<NotaryServer>,
    /// Also fetch keys from the origin server itself (tried before the notary).
    pub direct_key_fetching: bool,
    /// Servers whose users' events trigger state learning and which are asked for room state.
    pub trusted_origins: Vec<ServerName>,
    /// How long learnt room state counts as fresh.
    pub state_cache_minutes: u32,
    /// Period of the state-learning task.
    pub state_cache_interval_minutes: u32,
    /// Period of the EDU catch-up task; 0 disables it.
    pub catchup_interval_seconds: u32,
    /// Destinations outbound federation may reach. policyserv's default was IPv4-only; Palisade adds `::/0`.
    pub allowed_networks: Vec<Network>,
    /// Destinations outbound federation must never reach (SSRF guard); wins over `allowed_networks`.
    pub denied_networks: Vec<Network>,
    /// The `via` server for room joins.
    pub join_server: ServerName,
    /// Localpart of the policy server's user.
    pub join_localpart: Localpart,
    /// Servers asked for events by the event-ID check API.
    pub event_fetch_servers: Vec<ServerName>,
    /// Which invites of our user are counter-signed. policyserv answered every invite with 404; Palisade lets
    /// the operator choose, and refuses by default.
    pub accept_invites: AcceptInvites,
    /// With `accept_invites = "listed"`: servers whose users may invite us.
    pub invite_allowed_servers: Vec<ServerName>,
    /// With `accept_invites = "listed"`: rooms we may be invited into.
    pub invite_allowed_rooms: Vec<RoomId>,
    /// `host:port` published as `m.server` at `/.well-known/matrix/server`; unset answers 404 there.
    #[serde(with = "optional")]
    pub well_known_server: Option<ServerName>,
    /// PEM files of extra CAs trusted for outbound federation TLS, on top of the platform's roots.
    pub extra_ca_files: Vec<PathBuf>,
}

/// policyserv's intended deny list, corrected: its `172.16.0.0./12` typo and `fe80::/64` (link-local is
/// `fe80::/10`) are fixed, and "this network", the unspecified IPv6 address and IPv4-mapped IPv6 addresses
/// (a way around the IPv4 entries) are added.
pub(crate) const DEFAULT_DENIED_NETWORKS: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "fc00::/7",
    "fe80::/10",
];

/// Everything, in both address families.
pub(crate) const DEFAULT_ALLOWED_NETWORKS: &[&str] = &["0.0.0.0/0", "::/0"];

impl Default for Federation {
    fn default() -> Self {
        Self {
            key_query_server: Some(NotaryServer {
                server_name: ServerName::trusted("matrix.org"),
                key_id: "ed25519:a_RXGa".to_owned(),
                public_key: "l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ".to_owned(),
            }),
            direct_key_fetching: false,
            trusted_origins: vec![ServerName::trusted("matrix.org"), ServerName::trusted("element.io")],
            state_cache_minutes: 5,
            state_cache_interval_minutes: 60,
            catchup_interval_seconds: 15,
            allowed_networks: networks(DEFAULT_ALLOWED_NETWORKS),
            denied_networks: networks(DEFAULT_DENIED_NETWORKS),
            join_server: ServerName::trusted("matrix.org"),
            // policyserv's name, kept so rooms that already trust `@policyserv:<server>` keep working.
            join_localpart: Localpart::trusted("policyserv"),
            event_fetch_servers: vec![ServerName::trusted("matrix.org")],
            accept_invites: AcceptInvites::Never,
            invite_allowed_servers: Vec::new(),
            invite_allowed_rooms: Vec::new(),
            well_known_server: None,
            extra_ca_files: Vec::new(),
        }
    }
}

/// `[media]`: where media is downloaded from for scanning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Media {
    /// Client-server API base used for media downloads.
    pub client_url: HttpUrl,
    /// Access token for those downloads. Unset: media is downloaded over federation from its origin server
    /// instead (authenticated media), so no user account is needed.
    #[serde(with = "optional")]
    pub access_token: Option<Secret>,
}

impl Default for Media {
    fn default() -> Self {
        Self { client_url: HttpUrl::trusted("https://matrix-client.matrix.org"), access_token: None }
    }
}

/// `[openai]`: the OpenAI moderation filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAi {
    /// API key; unset means the filter is never built.
    #[serde(with = "optional")]
    pub api_key: Option<Secret>,
    /// API base URL (changeable for proxies and tests).
    pub api_url: HttpUrl,
    /// Rooms in which the filter runs.
    pub allowed_room_ids: Vec<RoomId>,
}

impl Default for OpenAi {
    fn default() -> Self {
        Self {
            api_key: None,
            api_url: HttpUrl::trusted("https://api.openai.com/v1"),
            allowed_room_ids: Vec::new(),
        }
    }
}

/// `[hma]`: a Hasher-Matcher-Actioner instance for media hash matching.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hma {
    /// HMA base URL; unset disables hash matching.
    #[serde(with = "optional")]
    pub api_url: Option<HttpUrl>,
    /// HMA API key.
    #[serde(with = "optional")]
    pub api_key: Option<Secret>,
}

/// `[muninn]`: the Muninn Hall member directory (trusted servers for the untrusted-media filter).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Muninn {
    /// Directory URL polled for members.
    pub api_url: HttpUrl,
    /// API key; unset disables polling.
    #[serde(with = "optional")]
    pub api_key: Option<Secret>,
}

impl Default for Muninn {
    fn default() -> Self {
        Self {
            api_url: HttpUrl::trusted("https://mau.bot/_matrix/maubot/plugin/muninnbot/member_directory"),
            api_key: None,
        }
    }
}

/// `[outside]`: limits for the outside services filters consult (OpenAI, HMA with media downloads, Muninn Hall).
/// policyserv had none of these: its media downloads had no size cap and its HMA calls no timeout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Outside {
    /// Longest time outside services together may add to one `/sign` answer (ms). When it runs out, the
    /// filter's fail-secure / fail-open setting decides. Keep it well under the 30 s Synapse waits.
    pub time_budget_ms: u32,
    /// Longest time for one outside request (ms), also outside `/sign` (the Muninn Hall poll).
    pub request_timeout_ms: u32,
    /// Largest media download for scanning (bytes).
    pub max_media_bytes: u32,
    /// Networks outside services may reach even though `federation.denied_networks` denies them (an HMA
    /// instance on the private network, say). Every other address passes the federation network policy.
    pub allowed_networks: Vec<Network>,
}

impl Default for Outside {
    fn default() -> Self {
        Self {
            time_budget_ms: 5_000,
            request_timeout_ms: 10_000,
            max_media_bytes: 20 * 1024 * 1024,
            allowed_networks: Vec::new(),
        }
    }
}

/// `[webhooks]`: community webhooks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Webhooks {
    /// Hosts (`host[:port]`, exact match) communities may send webhooks to.
    pub allowed_domains: Vec<ServerName>,
    /// Concurrent webhook deliveries.
    pub pool_size: u32,
}

impl Default for Webhooks {
    fn default() -> Self {
        Self { allowed_domains: vec![ServerName::trusted("element.ems.host")], pool_size: 5 }
    }
}

/// `[moderation]`: acting on verdicts in rooms (legacy redactions) and policy lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Moderation {
    /// Client-server API host → moderator access token, used to redact spam.
    pub access_tokens: BTreeMap<ServerName, Secret>,
    /// Concurrent redactions.
    pub pool_size: u32,
    /// Policy-list rooms (Mjolnir/Draupnir bans) read by the policy-list filter.
    pub policy_list_room_ids: Vec<RoomId>,
}

impl Default for Moderation {
    fn default() -> Self {
        Self { access_tokens: BTreeMap::new(), pool_size: 25, policy_list_room_ids: Vec::new() }
    }
}

/// `[support]`: what `/.well-known/matrix/support` publishes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Support {
    /// Contacts with the `m.role.admin` role.
    pub admin_contacts: Vec<SupportContact>,
    /// Contacts with the `m.role.security` role.
    pub security_contacts: Vec<SupportContact>,
    /// Support page.
    #[serde(with = "optional")]
    pub url: Option<HttpUrl>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_network_lists_are_complete_and_correct() {
        let federation = Federation::default();
        assert_eq!(federation.denied_networks.len(), DEFAULT_DENIED_NETWORKS.len());
        assert_eq!(federation.allowed_networks.len(), DEFAULT_ALLOWED_NETWORKS.len());
        let denied: Vec<String> = federation.denied_networks.iter().map(ToString::to_string).collect();
        for expected in
            ["172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "::1/128", "fe80::/10", "fc00::/7"]
        {
            assert!(denied.iter().any(|d| d == expected), "{expected} missing from {denied:?}");
        }
        let v6: std::net::IpAddr = "2001:db8::1".parse().unwrap();
        assert!(
            federation.allowed_networks.iter().any(|n| n.contains(v6)),
            "IPv6 must be allowed by default"
        );
        let metadata: std::net::IpAddr = "169.254.169.254".parse().unwrap();
        assert!(federation.denied_networks.iter().any(|n| n.contains(metadata)));
        let mapped: std::net::IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(federation.denied_networks.iter().any(|n| n.contains(mapped)));
    }

    #[test]
    fn default_keys_differ() {
        let keys = Keys::default();
        assert_ne!(keys.federation, keys.policy);
    }
}
