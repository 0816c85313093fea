//! Checks that involve more than one value, or a value against what the server can do. Single values are
//! already checked by their types while parsing.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use super::Config;
use super::database_url::DatabaseBackend;

/// A setting that makes the configuration unusable; `key` is its TOML key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Dotted TOML key of the setting at fault.
    pub(crate) key: &'static str,
    /// What is wrong.
    pub(crate) message: String,
}

/// Checks the instance settings (not `community_defaults`, which the policy crate checks). Returns warnings for
/// allowed-but-risky values.
pub(crate) fn validate(config: &Config) -> Result<Vec<String>, Problem> {
    check_keys(config)?;
    check_listeners(config)?;
    check_counts(config)?;
    check_key_sources(config)?;
    check_database(config)?;
    Ok(warnings(config))
}

/// One key must not serve both roles: MSC4284 asks for a policy key separate from the federation key.
fn check_keys(config: &Config) -> Result<(), Problem> {
    let keys = &config.keys;
    if normalize(&keys.federation) == normalize(&keys.policy) {
        return Err(Problem {
            key: "keys.policy",
            message: format!(
                "{} is also keys.federation; the policy key must be a separate file",
                keys.policy.display()
            ),
        });
    }
    Ok(())
}

/// Drops `.` components so `./a.key` and `a.key` compare equal. `..` is kept: resolving it needs the disk.
fn normalize(path: &Path) -> PathBuf {
    path.components().filter(|c| *c != Component::CurDir).collect()
}

/// Listeners must not collide, and TLS needs both files.
fn check_listeners(config: &Config) -> Result<(), Problem> {
    let listen = &config.listen;
    if overlaps(listen.http.addr(), listen.metrics.addr()) {
        return Err(Problem {
            key: "listen.metrics",
            message: format!("{} is also listen.http", listen.metrics),
        });
    }
    if let Some(pprof) = listen.pprof {
        for (other, name) in [(listen.http, "listen.http"), (listen.metrics, "listen.metrics")] {
            if overlaps(pprof.addr(), other.addr()) {
                return Err(Problem { key: "listen.pprof", message: format!("{pprof} is also {name}") });
            }
        }
    }
    match (&listen.tls_certificate, &listen.tls_private_key) {
        (Some(_), None) => Err(Problem {
            key: "listen.tls_private_key",
            message: "is needed with tls_certificate".to_owned(),
        }),
        (None, Some(_)) => Err(Problem {
            key: "listen.tls_certificate",
            message: "is needed with tls_private_key".to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Two binds collide on the same port when the addresses are equal or one of them is a wildcard. Port 0 never
/// collides: the kernel gives each listener a free port of its own.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Pools and periods that must be at least 1. policyserv let a processing pool below 10 become unbounded.
fn check_counts(config: &Config) -> Result<(), Problem> {
    let counts = [
        ("processing_pool_size", config.processing_pool_size),
        ("database.max_open_connections", config.database.max_open_connections),
        ("database.read_max_open_connections", config.database.read_max_open_connections),
        ("federation.state_cache_interval_minutes", config.federation.state_cache_interval_minutes),
        ("webhooks.pool_size", config.webhooks.pool_size),
        ("moderation.pool_size", config.moderation.pool_size),
        ("outside.time_budget_ms", config.outside.time_budget_ms),
        ("outside.request_timeout_ms", config.outside.request_timeout_ms),
        ("outside.max_media_bytes", config.outside.max_media_bytes),
    ];
    match counts.into_iter().find(|(_, value)| *value == 0) {
        Some((key, _)) => Err(Problem { key, message: "must be at least 1".to_owned() }),
        None => Ok(()),
    }
}

/// Without a notary and without direct fetching no signature could ever be verified.
fn check_key_sources(config: &Config) -> Result<(), Problem> {
    let federation = &config.federation;
    if federation.key_query_server.is_none() && !federation.direct_key_fetching {
        return Err(Problem {
            key: "federation.key_query_server",
            message: "is empty and direct_key_fetching is off, so no server keys could be fetched".to_owned(),
        });
    }
    Ok(())
}

/// A read replica only makes sense for PostgreSQL.
fn check_database(config: &Config) -> Result<(), Problem> {
    match &config.database.read_url {
        Some(read) if read.backend() == DatabaseBackend::Sqlite => Err(Problem {
            key: "database.read_url",
            message: "a read replica must be a postgres:// URL".to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Allowed values that are probably mistakes.
fn warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    let federation = &config.federation;
    if federation.denied_networks.is_empty() {
        warnings.push(
            "federation.denied_networks is empty: outbound federation may reach private and loopback addresses"
                .to_owned(),
        );
    }
    if federation.allowed_networks.is_empty() {
        warnings.push(
            "federation.allowed_networks is empty: no outbound federation request can be made".to_owned(),
        );
    }
    if config.database.read_url.is_some() && config.database.url.backend() == DatabaseBackend::Sqlite {
        warnings.push("database.read_url is ignored because database.url is SQLite".to_owned());
    }
    if federation.accept_invites == super::AcceptInvites::Listed
        && federation.invite_allowed_servers.is_empty()
        && federation.invite_allowed_rooms.is_empty()
    {
        warnings.push(
            "federation.accept_invites is \"listed\" but both invite lists are empty, so every invite is refused"
                .to_owned(),
        );
    }
    if config.outside.time_budget_ms >= 30_000 {
        warnings.push(
            "outside.time_budget_ms is 30 s or more: Synapse gives up on /sign after 30 s, so a slow outside \
             service would cost events their answer"
                .to_owned(),
        );
    }
    if config.api.key.as_ref().is_some_and(|key| key.expose().len() < 16) {
        warnings.push("api.key is shorter than 16 characters; use a long random key".to_owned());
    }
    warnings
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A change to the default configuration.
    type Edit = Box<dyn FnOnce(&mut Config)>;

    fn problem_key(edit: impl FnOnce(&mut Config)) -> Option<&'static str> {
        let mut config = Config::default();
        edit(&mut config);
        validate(&config).err().map(|problem| problem.key)
    }

    #[test]
    fn defaults_pass_without_warnings() {
        assert_eq!(validate(&Config::default()), Ok(Vec::new()));
    }

    #[test]
    fn problems_name_the_setting() {
        let bind = |s: &str| s.parse().unwrap();
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|c| c.keys.policy = c.keys.federation.clone()), "keys.policy"),
            (Box::new(|c| c.keys.policy = PathBuf::from("data/signing.key")), "keys.policy"),
            (Box::new(move |c| c.listen.metrics = bind("127.0.0.1:8080")), "listen.metrics"),
            (Box::new(move |c| c.listen.pprof = Some(bind("[::]:8081"))), "listen.pprof"),
            (
                Box::new(|c| c.listen.tls_certificate = Some(PathBuf::from("cert.pem"))),
                "listen.tls_private_key",
            ),
            (
                Box::new(|c| c.listen.tls_private_key = Some(PathBuf::from("key.pem"))),
                "listen.tls_certificate",
            ),
            (Box::new(|c| c.processing_pool_size = 0), "processing_pool_size"),
            (Box::new(|c| c.webhooks.pool_size = 0), "webhooks.pool_size"),
            (Box::new(|c| c.moderation.pool_size = 0), "moderation.pool_size"),
            (Box::new(|c| c.database.max_open_connections = 0), "database.max_open_connections"),
            (
                Box::new(|c| c.federation.state_cache_interval_minutes = 0),
                "federation.state_cache_interval_minutes",
            ),
            (Box::new(|c| c.federation.key_query_server = None), "federation.key_query_server"),
            (Box::new(|c| c.database.read_url = Some("sqlite://x.db".parse().unwrap())), "database.read_url"),
        ];
        for (edit, key) in cases {
            assert_eq!(problem_key(edit), Some(key));
        }
    }

    #[test]
    fn allowed_combinations() {
        let bind = |s: &str| s.parse().unwrap();
        assert_eq!(problem_key(|c| c.listen.metrics = bind("127.0.0.1:9100")), None);
        assert_eq!(problem_key(|c| c.listen.pprof = Some(bind("127.0.0.1:8082"))), None);
        // Port 0: each listener gets a free port of its own.
        assert_eq!(
            problem_key(|c| {
                c.listen.http = bind("127.0.0.1:0");
                c.listen.metrics = bind("127.0.0.1:0");
            }),
            None
        );
        assert_eq!(
            problem_key(|c| {
                c.federation.key_query_server = None;
                c.federation.direct_key_fetching = true;
            }),
            None
        );
        assert_eq!(problem_key(|c| c.federation.catchup_interval_seconds = 0), None);
    }

    #[test]
    fn risky_values_warn() {
        let mut config = Config::default();
        config.federation.denied_networks.clear();
        config.api.key = Some("short".parse().unwrap());
        config.federation.accept_invites = super::super::AcceptInvites::Listed;
        let warnings = validate(&config).unwrap();
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].starts_with("federation.denied_networks is empty"));
        assert!(warnings[1].starts_with("federation.accept_invites is \"listed\""));
        assert!(warnings[2].starts_with("api.key is shorter"));
    }
}
