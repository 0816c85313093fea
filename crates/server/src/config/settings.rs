//! The settings table: every instance setting as data — TOML key, `PS_*` names, value kind, secrecy and help.
//!
//! The environment overlay, the unknown-variable warnings, secret masking and the reference table in
//! `docs/configuration.md` are all driven by [`SETTINGS`], so adding a setting is one row here plus its field.

use toml::Value;

use super::bind::BindAddress;
use super::database_url::DatabaseUrl;
use super::env_value::{checked, checked_list, checked_map, checked_optional, parse_bool, parse_count};
use super::http_url::HttpUrl;
use super::invites::AcceptInvites;
use super::log_format::LogFormat;
use super::matrix_id::{Localpart, RoomId};
use super::network::Network;
use super::notary::NotaryServer;
use super::secret::Secret;
use super::server_name::ServerName;
use super::support_contact::SupportContact;

/// One instance setting.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// Dotted TOML key, e.g. `federation.denied_networks`.
    pub key: &'static str,
    /// The variable policyserv reads, if it has one.
    pub env: Option<&'static str>,
    /// Misspellings from policyserv's README or demo that are accepted too (with a warning).
    pub aliases: &'static [&'static str],
    /// Value syntax and check.
    pub kind: Kind,
    /// How `palisade config check` hides the value.
    pub mask: Mask,
    /// One-line meaning, for the reference documentation.
    pub help: &'static str,
}

/// How a secret setting is hidden when the configuration is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    /// Shown as is.
    Plain,
    /// Replaced by `"***"` when set.
    Whole,
    /// A URL whose password is replaced by `***`.
    UrlPassword,
    /// A table whose values are replaced by `"***"`.
    MapValues,
}

/// The syntax of a setting's value, in the environment (policyserv syntax) and in TOML.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `true` / `false`.
    Bool,
    /// A whole number ≥ 0.
    Count,
    /// A file path.
    Path,
    /// A file path or `""` for unset.
    OptionalPath,
    /// A list of file paths.
    Paths,
    /// A secret string or `""` for unset.
    OptionalSecret,
    /// A Matrix server name `host[:port]`.
    ServerName,
    /// A list of server names.
    ServerNames,
    /// A Matrix server name or `""` for unset.
    OptionalServerName,
    /// `never`, `always` or `listed`.
    InvitePolicy,
    /// `text` or `json`.
    LogFormat,
    /// A Matrix user localpart.
    Localpart,
    /// An `ip:port` listener address.
    Bind,
    /// An `ip:port` listener address or `""` for off.
    OptionalBind,
    /// An `http(s)://` URL.
    HttpUrl,
    /// An `http(s)://` URL or `""` for unset.
    OptionalHttpUrl,
    /// A `sqlite:` or `postgres://` URL.
    DatabaseUrl,
    /// A database URL or `""` for unset.
    OptionalDatabaseUrl,
    /// A list of CIDR networks.
    Networks,
    /// A list of room IDs.
    RoomIds,
    /// `server_name,ed25519:version,base64_key` or `""` for none.
    OptionalNotary,
    /// A list of support contacts (Matrix IDs or e-mail addresses).
    Contacts,
    /// A `host:token` map.
    TokenMap,
}

impl Kind {
    /// Parses an environment value into the TOML value the field deserializes from, checking it on the way so
    /// the error can name the variable.
    pub(crate) fn parse_env(self, raw: &str) -> Result<Value, String> {
        match self {
            Self::Bool => parse_bool(raw).map(Value::Boolean),
            Self::Count => parse_count(raw).map(Value::Integer),
            Self::Path if raw.is_empty() => Err("a path must not be empty".to_owned()),
            Self::Path | Self::OptionalPath => Ok(Value::String(raw.to_owned())),
            Self::Paths => Ok(Value::Array(
                super::env_value::split_list(raw).into_iter().map(|p| Value::String(p.to_owned())).collect(),
            )),
            Self::OptionalSecret => checked_optional::<Secret>(raw),
            Self::ServerName => checked::<ServerName>(raw),
            Self::ServerNames => checked_list::<ServerName>(raw),
            Self::OptionalServerName => checked_optional::<ServerName>(raw),
            Self::InvitePolicy => checked::<AcceptInvites>(raw),
            Self::LogFormat => checked::<LogFormat>(raw),
            Self::Localpart => checked::<Localpart>(raw),
            Self::Bind => checked::<BindAddress>(raw),
            Self::OptionalBind => checked_optional::<BindAddress>(raw),
            Self::HttpUrl => checked::<HttpUrl>(raw),
            Self::OptionalHttpUrl => checked_optional::<HttpUrl>(raw),
            Self::DatabaseUrl => checked::<DatabaseUrl>(raw),
            Self::OptionalDatabaseUrl => checked_optional::<DatabaseUrl>(raw),
            Self::Networks => checked_list::<Network>(raw),
            Self::RoomIds => checked_list::<RoomId>(raw),
            Self::OptionalNotary => checked_optional::<NotaryServer>(raw),
            Self::Contacts => checked_list::<SupportContact>(raw),
            Self::TokenMap => checked_map::<ServerName, Secret>(raw),
        }
    }

    /// How the value is written, for the reference documentation.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Bool => "boolean",
            Self::Count => "whole number",
            Self::Path => "path",
            Self::OptionalPath => "path or empty",
            Self::Paths => "list of paths",
            Self::OptionalSecret => "secret or empty",
            Self::ServerName => "server name",
            Self::ServerNames => "list of server names",
            Self::OptionalServerName => "server name or empty",
            Self::InvitePolicy => "never, always or listed",
            Self::LogFormat => "text or json",
            Self::Localpart => "user localpart",
            Self::Bind => "ip:port",
            Self::OptionalBind => "ip:port or empty",
            Self::HttpUrl => "http(s) URL",
            Self::OptionalHttpUrl => "http(s) URL or empty",
            Self::DatabaseUrl => "database URL",
            Self::OptionalDatabaseUrl => "database URL or empty",
            Self::Networks => "list of CIDR networks",
            Self::RoomIds => "list of room IDs",
            Self::OptionalNotary => "name,key_id,key or empty",
            Self::Contacts => "list of Matrix IDs / e-mails",
            Self::TokenMap => "map host → token",
        }
    }
}

/// Shorthand constructor keeping the table below one row per setting.
const fn s(
    key: &'static str,
    env: Option<&'static str>,
    kind: Kind,
    mask: Mask,
    help: &'static str,
) -> Setting {
    Setting { key, env, aliases: &[], kind, mask, help }
}

/// A row with misspelt policyserv names accepted too.
const fn with_aliases(setting: Setting, aliases: &'static [&'static str]) -> Setting {
    Setting { aliases, ..setting }
}

use Kind as K;
use Mask::{MapValues, Plain, UrlPassword, Whole};

/// Every instance setting. Order = order in the reference documentation.
pub const SETTINGS: &[Setting] = &[
    s(
        "server_name",
        Some("PS_HOMESERVER_NAME"),
        K::ServerName,
        Plain,
        "Our server name; policy signatures are made under it.",
    ),
    s(
        "processing_pool_size",
        Some("PS_PROCESSING_POOL_SIZE"),
        K::Count,
        Plain,
        "Events checked concurrently (at least 1).",
    ),
    s(
        "join_room_ids",
        Some("PS_JOIN_ROOM_IDS"),
        K::RoomIds,
        Plain,
        "Rooms joined at startup into the `default` community.",
    ),
    s(
        "log_format",
        Some("PS_LOG_FORMAT"),
        K::LogFormat,
        Plain,
        "Log lines on standard error: `text`, or `json` (one object per line) for log collectors.",
    ),
    s(
        "listen.http",
        Some("PS_HTTP_BIND"),
        K::Bind,
        Plain,
        "Federation, `/sign`, well-known, admin API and health listener.",
    ),
    with_aliases(
        s("listen.metrics", Some("PS_HTTP_METRICS_BIND"), K::Bind, Plain, "Prometheus `/metrics` listener."),
        &["PS_METRICS_BIND"],
    ),
    s("listen.pprof", Some("PS_HTTP_PPROF_BIND"), K::OptionalBind, Plain, "Profiling listener; empty = off."),
    s(
        "listen.tls_certificate",
        None,
        K::OptionalPath,
        Plain,
        "PEM certificate chain to serve HTTPS directly; empty = plain HTTP behind a proxy.",
    ),
    s("listen.tls_private_key", None, K::OptionalPath, Plain, "PEM private key for `tls_certificate`."),
    s(
        "keys.federation",
        Some("PS_HOMESERVER_SIGNING_KEY_PATH"),
        K::Path,
        Plain,
        "Federation signing key file (created if missing).",
    ),
    s(
        "keys.policy",
        Some("PS_HOMESERVER_EVENT_SIGNING_KEY_PATH"),
        K::Path,
        Plain,
        "Policy key file for `ed25519:policy_server`; must differ from `keys.federation`.",
    ),
    s(
        "database.url",
        Some("PS_DATABASE"),
        K::DatabaseUrl,
        UrlPassword,
        "Read-write database: `sqlite://PATH` or `postgres://…`.",
    ),
    s(
        "database.max_open_connections",
        Some("PS_DATABASE_MAX_OPEN_CONNS"),
        K::Count,
        Plain,
        "Most open connections to `database.url` (at least 1).",
    ),
    s(
        "database.max_idle_connections",
        Some("PS_DATABASE_MAX_IDLE_CONNS"),
        K::Count,
        Plain,
        "Most idle connections kept to `database.url`.",
    ),
    s(
        "database.read_url",
        Some("PS_DATABASE_READ"),
        K::OptionalDatabaseUrl,
        UrlPassword,
        "Read-only PostgreSQL replica for queries; empty = use `database.url`.",
    ),
    with_aliases(
        s(
            "database.read_max_open_connections",
            Some("PS_DATABASE_READ_MAX_OPEN"),
            K::Count,
            Plain,
            "Most open connections to `database.read_url` (at least 1).",
        ),
        &["PS_DATABASE_READ_MAX_OPEN_CONNS"],
    ),
    with_aliases(
        s(
            "database.read_max_idle_connections",
            Some("PS_DATABASE_READ_MAX_IDLE"),
            K::Count,
            Plain,
            "Most idle connections kept to `database.read_url`.",
        ),
        &["PS_DATABASE_READ_MAX_IDLE_CONNS"],
    ),
    s(
        "database.retention_days",
        None,
        K::Count,
        Plain,
        "Days verdicts, traces and media-scan results are kept before a background job prunes them; 0 = forever.",
    ),
    s(
        "api.key",
        Some("PS_API_KEY"),
        K::OptionalSecret,
        Whole,
        "Bearer key of the admin API; empty disables the admin API.",
    ),
    s(
        "federation.key_query_server",
        Some("PS_KEY_QUERY_SERVER"),
        K::OptionalNotary,
        Plain,
        "Notary for other servers' keys, `name,ed25519:version,base64_key`; empty = none (then `direct_key_fetching` is required).",
    ),
    s(
        "federation.direct_key_fetching",
        Some("PS_DIRECT_KEY_FETCHING"),
        K::Bool,
        Plain,
        "Also fetch keys from the origin server itself, before the notary.",
    ),
    s(
        "federation.trusted_origins",
        Some("PS_TRUSTED_ORIGINS"),
        K::ServerNames,
        Plain,
        "Servers whose users' events trigger state learning and which are asked for room state.",
    ),
    s(
        "federation.state_cache_minutes",
        Some("PS_STATE_CACHE_MINUTES"),
        K::Count,
        Plain,
        "Minutes learnt room state counts as fresh.",
    ),
    s(
        "federation.state_cache_interval_minutes",
        Some("PS_STATE_CACHE_INTERVAL_MINUTES"),
        K::Count,
        Plain,
        "Period of the state-learning task in minutes (at least 1).",
    ),
    s(
        "federation.catchup_interval_seconds",
        Some("PS_FEDERATION_CATCHUP_INTERVAL_SECONDS"),
        K::Count,
        Plain,
        "Period of the EDU catch-up task in seconds; 0 disables it.",
    ),
    s(
        "federation.allowed_networks",
        Some("PS_HOMESERVER_ALLOWED_NETWORKS"),
        K::Networks,
        Plain,
        "Addresses outbound federation may reach.",
    ),
    s(
        "federation.denied_networks",
        Some("PS_HOMESERVER_DENIED_NETWORKS"),
        K::Networks,
        Plain,
        "Addresses outbound federation must never reach (SSRF guard); wins over the allow list.",
    ),
    s(
        "federation.join_server",
        Some("PS_JOIN_SERVER"),
        K::ServerName,
        Plain,
        "The `via` server used to join rooms.",
    ),
    s(
        "federation.join_localpart",
        Some("PS_JOIN_LOCALPART"),
        K::Localpart,
        Plain,
        "Localpart of the policy server's user.",
    ),
    s(
        "federation.event_fetch_servers",
        Some("PS_EVENT_FETCH_SERVERS"),
        K::ServerNames,
        Plain,
        "Servers asked for events by the event-ID check API.",
    ),
    s(
        "federation.accept_invites",
        None,
        K::InvitePolicy,
        Plain,
        "Invites of our user we counter-sign: `never`, `always`, or `listed` (the two lists below).",
    ),
    s(
        "federation.invite_allowed_servers",
        None,
        K::ServerNames,
        Plain,
        "With `accept_invites = \"listed\"`: servers whose users may invite us.",
    ),
    s(
        "federation.invite_allowed_rooms",
        None,
        K::RoomIds,
        Plain,
        "With `accept_invites = \"listed\"`: rooms we may be invited into.",
    ),
    s(
        "federation.well_known_server",
        None,
        K::OptionalServerName,
        Plain,
        "`host:port` served as `m.server` at `/.well-known/matrix/server`; empty = 404 there.",
    ),
    s(
        "federation.extra_ca_files",
        None,
        K::Paths,
        Plain,
        "PEM CA files trusted for outbound federation TLS, on top of the system roots.",
    ),
    s(
        "media.client_url",
        Some("PS_HOMESERVER_MEDIA_CLIENT_URL"),
        K::HttpUrl,
        Plain,
        "Client-server API base used to download media for scanning.",
    ),
    s(
        "media.access_token",
        Some("PS_HOMESERVER_MEDIA_CLIENT_ACCESS_TOKEN"),
        K::OptionalSecret,
        Whole,
        "Access token for media downloads; empty = download over federation from the media's origin instead.",
    ),
    s(
        "openai.api_key",
        Some("PS_OPENAI_FILTER_API_KEY"),
        K::OptionalSecret,
        Whole,
        "OpenAI API key; empty = the OpenAI filter is off.",
    ),
    s("openai.api_url", None, K::HttpUrl, Plain, "OpenAI API base URL."),
    s(
        "openai.allowed_room_ids",
        Some("PS_OPENAI_FILTER_ALLOWED_ROOM_IDS"),
        K::RoomIds,
        Plain,
        "Rooms in which the OpenAI filter runs.",
    ),
    s(
        "hma.api_url",
        Some("PS_HMA_API_URL"),
        K::OptionalHttpUrl,
        Plain,
        "Hasher-Matcher-Actioner base URL; empty = no hash matching.",
    ),
    s("hma.api_key", Some("PS_HMA_API_KEY"), K::OptionalSecret, Whole, "HMA API key."),
    s(
        "muninn.api_url",
        Some("PS_MUNINN_HALL_SOURCE_API_URL"),
        K::HttpUrl,
        Plain,
        "Muninn Hall member directory URL.",
    ),
    s(
        "muninn.api_key",
        Some("PS_MUNINN_HALL_SOURCE_API_KEY"),
        K::OptionalSecret,
        Whole,
        "Muninn Hall API key; empty = directory not polled.",
    ),
    s(
        "outside.time_budget_ms",
        None,
        K::Count,
        Plain,
        "Longest time outside services (OpenAI, HMA, media downloads) may add to one `/sign` answer; then the filter's fail-secure/fail-open setting decides.",
    ),
    s("outside.request_timeout_ms", None, K::Count, Plain, "Longest time for one outside-service request."),
    s("outside.max_media_bytes", None, K::Count, Plain, "Largest media download for scanning, in bytes."),
    s(
        "outside.allowed_networks",
        None,
        K::Networks,
        Plain,
        "Networks outside services may reach although `federation.denied_networks` denies them.",
    ),
    s(
        "webhooks.allowed_domains",
        Some("PS_ALLOWED_WEBHOOK_DOMAINS"),
        K::ServerNames,
        Plain,
        "Hosts (`host[:port]`, exact match) communities may send webhooks to.",
    ),
    s(
        "webhooks.pool_size",
        Some("PS_WEBHOOK_POOL_SIZE"),
        K::Count,
        Plain,
        "Concurrent webhook deliveries (at least 1).",
    ),
    s(
        "moderation.access_tokens",
        Some("PS_MODERATOR_ACCESS_TOKENS"),
        K::TokenMap,
        MapValues,
        "Client-server API host → moderator access token, for redacting spam.",
    ),
    s(
        "moderation.pool_size",
        Some("PS_MODERATION_POOL_SIZE"),
        K::Count,
        Plain,
        "Concurrent redactions (at least 1).",
    ),
    s(
        "moderation.policy_list_room_ids",
        Some("PS_MJOLNIR_FILTER_ROOM_ID"),
        K::RoomIds,
        Plain,
        "Policy-list rooms read by the policy-list filter.",
    ),
    s(
        "support.admin_contacts",
        Some("PS_SUPPORT_ADMIN_CONTACTS"),
        K::Contacts,
        Plain,
        "Admin contacts for `/.well-known/matrix/support`.",
    ),
    s(
        "support.security_contacts",
        Some("PS_SUPPORT_SECURITY_CONTACTS"),
        K::Contacts,
        Plain,
        "Security contacts for `/.well-known/matrix/support`.",
    ),
    s(
        "support.url",
        Some("PS_SUPPORT_URL"),
        K::OptionalHttpUrl,
        Plain,
        "Support page for `/.well-known/matrix/support`.",
    ),
];

/// policyserv variables that mean nothing to Palisade, with the reason shown when one is set.
pub const IGNORED_VARIABLES: &[(&str, &str)] = &[
    ("PS_DATABASE_MIGRATIONS_DIR", "Palisade's database migrations are built into the binary"),
    ("PS_SPAM_THRESHOLD", "policyserv removed the spam threshold; verdicts have no score to compare"),
];

/// Community-level misspellings from policyserv's README: (real name, misspelling).
pub const COMMUNITY_ALIASES: &[(&str, &str)] = &[
    ("PS_TRIM_LENGTH_FILTER_MAX_DIFFERENCE", "PS_TRIM_FILTER_MAX_DIFFERENCE"),
    ("PS_KEYWORD_TEMPLATE_FILTER_USE_FULL_EVENT", "PS_KEYWORD_TEMPLATE_USE_FULL_EVENT"),
];

/// The setting with this TOML key.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.key == key)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn keys_and_names_are_unique() {
        let mut keys = BTreeSet::new();
        let mut names = BTreeSet::new();
        for setting in SETTINGS {
            assert!(keys.insert(setting.key), "duplicate key {}", setting.key);
            for name in setting.env.iter().chain(setting.aliases) {
                assert!(names.insert(*name), "duplicate variable {name}");
                assert!(name.starts_with("PS_"), "{name}");
            }
            assert!(setting.env.is_some() || setting.aliases.is_empty(), "{}", setting.key);
        }
        for (name, _) in IGNORED_VARIABLES {
            assert!(names.insert(name), "ignored variable {name} is also a setting");
        }
    }

    /// Catalogue §4.1: every `PS_*` instance variable of policyserv is read (or knowingly ignored).
    #[test]
    fn covers_every_policyserv_instance_variable() {
        let policyserv = [
            "PS_HTTP_BIND",
            "PS_HTTP_METRICS_BIND",
            "PS_HTTP_PPROF_BIND",
            "PS_API_KEY",
            "PS_DATABASE",
            "PS_DATABASE_MIGRATIONS_DIR",
            "PS_DATABASE_MAX_OPEN_CONNS",
            "PS_DATABASE_MAX_IDLE_CONNS",
            "PS_DATABASE_READ",
            "PS_DATABASE_READ_MAX_OPEN",
            "PS_DATABASE_READ_MAX_IDLE",
            "PS_PROCESSING_POOL_SIZE",
            "PS_KEY_QUERY_SERVER",
            "PS_DIRECT_KEY_FETCHING",
            "PS_TRUSTED_ORIGINS",
            "PS_STATE_CACHE_MINUTES",
            "PS_STATE_CACHE_INTERVAL_MINUTES",
            "PS_FEDERATION_CATCHUP_INTERVAL_SECONDS",
            "PS_HOMESERVER_NAME",
            "PS_HOMESERVER_SIGNING_KEY_PATH",
            "PS_HOMESERVER_EVENT_SIGNING_KEY_PATH",
            "PS_HOMESERVER_MEDIA_CLIENT_URL",
            "PS_HOMESERVER_MEDIA_CLIENT_ACCESS_TOKEN",
            "PS_HOMESERVER_ALLOWED_NETWORKS",
            "PS_HOMESERVER_DENIED_NETWORKS",
            "PS_MJOLNIR_FILTER_ROOM_ID",
            "PS_OPENAI_FILTER_API_KEY",
            "PS_OPENAI_FILTER_ALLOWED_ROOM_IDS",
            "PS_MUNINN_HALL_SOURCE_API_URL",
            "PS_MUNINN_HALL_SOURCE_API_KEY",
            "PS_JOIN_ROOM_IDS",
            "PS_JOIN_SERVER",
            "PS_JOIN_LOCALPART",
            "PS_EVENT_FETCH_SERVERS",
            "PS_MODERATOR_ACCESS_TOKENS",
            "PS_MODERATION_POOL_SIZE",
            "PS_ALLOWED_WEBHOOK_DOMAINS",
            "PS_WEBHOOK_POOL_SIZE",
            "PS_HMA_API_URL",
            "PS_HMA_API_KEY",
            "PS_SUPPORT_ADMIN_CONTACTS",
            "PS_SUPPORT_SECURITY_CONTACTS",
            "PS_SUPPORT_URL",
        ];
        for name in policyserv {
            let read = SETTINGS.iter().any(|s| s.env == Some(name));
            let ignored = IGNORED_VARIABLES.iter().any(|(n, _)| *n == name);
            assert!(read || ignored, "{name} is not mapped");
        }
    }

    #[test]
    fn readme_misspellings_are_aliases() {
        let aliases: Vec<&str> = SETTINGS.iter().flat_map(|s| s.aliases.iter().copied()).collect();
        for name in ["PS_METRICS_BIND", "PS_DATABASE_READ_MAX_OPEN_CONNS", "PS_DATABASE_READ_MAX_IDLE_CONNS"]
        {
            assert!(aliases.contains(&name), "{name}");
        }
        let community: Vec<&str> = COMMUNITY_ALIASES.iter().map(|(_, alias)| *alias).collect();
        assert_eq!(community, ["PS_TRIM_FILTER_MAX_DIFFERENCE", "PS_KEYWORD_TEMPLATE_USE_FULL_EVENT"]);
    }

    #[test]
    fn secrets_are_masked() {
        for key in ["api.key", "media.access_token", "openai.api_key", "hma.api_key", "muninn.api_key"] {
            assert_eq!(setting(key).map(|s| s.mask), Some(Mask::Whole), "{key}");
        }
        assert_eq!(setting("database.url").map(|s| s.mask), Some(Mask::UrlPassword));
        assert_eq!(setting("database.read_url").map(|s| s.mask), Some(Mask::UrlPassword));
        assert_eq!(setting("moderation.access_tokens").map(|s| s.mask), Some(Mask::MapValues));
    }
}
