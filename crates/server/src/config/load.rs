//! Putting the layers together: defaults → TOML file → environment, then checks.

use std::collections::BTreeMap;
use std::path::Path;

use palisade_policy::CommunityConfig;
use toml::{Table, Value};

use super::env::{community_from_env, overlay_env};
use super::error::ConfigError;
use super::validate::validate;
use super::{Config, Loaded};

/// See [`Config::load`].
pub(crate) fn load(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let mut table = match file {
        Some(path) => read_file(path)?,
        None => Table::new(),
    };
    let sources = overlay_env(&mut table, env, &mut warnings)?;
    let community_env = community_from_env(env, &mut warnings)?;
    // Every value in the table was checked already (by toml for the file, by the settings table for the
    // environment), so this only fails on a bug; the message still names the key.
    let mut config: Config = Value::Table(table).try_into().map_err(|e: toml::de::Error| {
        ConfigError::invalid("configuration", e.to_string().trim_end().to_owned())
    })?;
    config.community_defaults = overlay_community(&config.community_defaults, &community_env)?;

    let name_of = |key: &'static str| sources.get(key).copied().unwrap_or(key);
    warnings.extend(validate(&config).map_err(|p| ConfigError::invalid(name_of(p.key), p.message))?);
    config.community_defaults.validate().map_err(|e| community_error(e, &community_env, env))?;
    Ok(Loaded { config, warnings })
}

/// Reads the TOML file. It is first deserialized on its own so that toml's error points at the line of a bad
/// value or an unknown key; the merged table no longer knows lines.
fn read_file(path: &Path) -> Result<Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    let toml_error = |e: toml::de::Error| ConfigError::Toml { path: path.to_owned(), message: e.to_string() };
    toml::from_str::<Config>(&text).map_err(toml_error)?;
    toml::from_str::<Table>(&text).map_err(toml_error)
}

/// Community settings from the environment replace the file's key by key (an unset variable leaves the file's
/// value). Done on the JSON form so it works for whatever fields `CommunityConfig` has; `null` means unset.
fn overlay_community(file: &CommunityConfig, env: &CommunityConfig) -> Result<CommunityConfig, ConfigError> {
    let merge_error = |e: serde_json::Error| ConfigError::invalid("community_defaults", e.to_string());
    let mut merged = serde_json::to_value(file).map_err(merge_error)?;
    if let (Some(base), serde_json::Value::Object(top)) =
        (merged.as_object_mut(), serde_json::to_value(env).map_err(merge_error)?)
    {
        base.extend(top.into_iter().filter(|(_, value)| !value.is_null()));
    }
    serde_json::from_value(merged).map_err(merge_error)
}

/// Names a bad community setting by the variable that set it, or by its key under `community_defaults`.
fn community_error(
    error: palisade_policy::CommunityConfigError,
    from_env: &CommunityConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> ConfigError {
    if error.key.starts_with("PS_") {
        return ConfigError::invalid(error.key, error.message);
    }
    let set_by_env = serde_json::to_value(from_env)
        .ok()
        .and_then(|value| value.get(&error.key).map(|v| !v.is_null()))
        .unwrap_or(false);
    if set_by_env {
        let real = format!("PS_{}", error.key.to_ascii_uppercase());
        let written = super::settings::COMMUNITY_ALIASES
            .iter()
            .find(|(name, alias)| *name == real && env(&real).is_none() && env(alias).is_some())
            .map_or(real.clone(), |(_, alias)| (*alias).to_owned());
        return ConfigError::invalid(written, error.message);
    }
    ConfigError::invalid(format!("community_defaults.{}", error.key), error.message)
}

/// TOML key → rendered value for every setting, for tests and the documentation.
pub(crate) fn leaf_values(config: &Config) -> BTreeMap<&'static str, Value> {
    let Ok(mut value) = Value::try_from(config) else {
        return BTreeMap::new();
    };
    super::settings::SETTINGS
        .iter()
        .filter_map(|setting| {
            super::masking::value_at_mut(&mut value, setting.key).map(|v| (setting.key, v.clone()))
        })
        .collect()
}

/// Dotted keys of `value`'s leaves, stopping at setting keys (maps are one setting) and skipping
/// `community_defaults`, which belongs to the policy crate.
#[cfg(test)]
pub(crate) fn collect_leaves(
    value: &mut Value,
    prefix: String,
    keys: &std::collections::BTreeSet<&str>,
    out: &mut Vec<String>,
) {
    match value.as_table_mut() {
        Some(table) if !keys.contains(prefix.as_str()) => {
            for (name, child) in table.iter_mut() {
                let key = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
                if key != "community_defaults" {
                    collect_leaves(child, key, keys, out);
                }
            }
        }
        _ => out.push(prefix),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::config::settings::{Kind, SETTINGS};

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: BTreeMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name: &str| map.get(name).cloned()
    }

    fn load_env(pairs: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        load(None, &env_of(pairs))
    }

    fn write_toml(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("palisade.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// A value in policyserv syntax for each kind, and the TOML value it must become. None equals a default.
    fn sample(kind: Kind) -> (&'static str, Value) {
        let s = |v: &str| Value::String(v.to_owned());
        let list = |items: &[&str]| Value::Array(items.iter().map(|v| s(v)).collect());
        match kind {
            Kind::Bool => ("true", Value::Boolean(true)),
            Kind::Count => ("7", Value::Integer(7)),
            Kind::Path | Kind::OptionalPath => ("/srv/palisade/sample.key", s("/srv/palisade/sample.key")),
            Kind::OptionalSecret => ("s3cret-token", s("s3cret-token")),
            Kind::ServerName => ("sample.example:8448", s("sample.example:8448")),
            Kind::ServerNames => ("a.example, b.example:8448,", list(&["a.example", "b.example:8448"])),
            Kind::OptionalServerName => ("sample.example:443", s("sample.example:443")),
            Kind::InvitePolicy => ("listed", s("listed")),
            Kind::LogFormat => ("json", s("json")),
            Kind::Paths => ("/etc/a.pem, /etc/b.pem", list(&["/etc/a.pem", "/etc/b.pem"])),
            Kind::Localpart => ("sample.bot", s("sample.bot")),
            Kind::Bind => ("127.0.0.1:9999", s("127.0.0.1:9999")),
            Kind::OptionalBind => ("127.0.0.1:9998", s("127.0.0.1:9998")),
            Kind::HttpUrl | Kind::OptionalHttpUrl => {
                ("https://sample.example/api", s("https://sample.example/api"))
            }
            Kind::DatabaseUrl | Kind::OptionalDatabaseUrl => {
                ("postgres://u:p@db.example/palisade", s("postgres://u:p@db.example/palisade"))
            }
            Kind::Networks => ("10.1.0.0/16,fd00::/8", list(&["10.1.0.0/16", "fd00::/8"])),
            Kind::RoomIds => ("!a:example.org,!b", list(&["!a:example.org", "!b"])),
            Kind::OptionalNotary => {
                let notary = "notary.example,ed25519:k1,l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ";
                (notary, s(notary))
            }
            Kind::Contacts => {
                ("@admin:example.org,admin@example.org", list(&["@admin:example.org", "admin@example.org"]))
            }
            Kind::TokenMap => {
                let mut table = Table::new();
                table.insert("example.org".to_owned(), s("tok1"));
                table.insert("example.com:8448".to_owned(), s("tok2"));
                ("example.org:tok1,example.com:8448:tok2", Value::Table(table))
            }
        }
    }

    /// Iterates the settings table: every variable name, real or misspelt, lands on its own field.
    #[test]
    fn every_variable_lands_on_its_field() {
        let defaults = leaf_values(&Config::default());
        for setting in SETTINGS {
            let (raw, expected) = sample(setting.kind);
            assert_ne!(
                defaults.get(setting.key),
                Some(&expected),
                "sample for {} equals its default",
                setting.key
            );
            for name in setting.env.iter().chain(setting.aliases) {
                let loaded = load_env(&[(name, raw)]).unwrap_or_else(|e| panic!("{name}: {e}"));
                let values = leaf_values(&loaded.config);
                assert_eq!(values.get(setting.key), Some(&expected), "{name} → {}", setting.key);
                let changed: Vec<_> =
                    values.iter().filter(|(k, v)| defaults.get(*k) != Some(v)).map(|(k, _)| *k).collect();
                assert_eq!(changed, [setting.key], "{name} changed other settings");
            }
        }
    }

    #[test]
    fn every_setting_is_a_field_and_every_field_a_setting() {
        let mut rendered = Value::try_from(Config::default()).unwrap();
        let keys: BTreeSet<&str> = SETTINGS.iter().map(|s| s.key).collect();
        let mut leaves = Vec::new();
        super::collect_leaves(&mut rendered, String::new(), &keys, &mut leaves);
        let leaves: BTreeSet<&str> = leaves.iter().map(String::as_str).collect();
        assert_eq!(leaves, keys);
    }

    #[test]
    fn defaults() {
        let config = load_env(&[]).unwrap().config;
        assert_eq!(config.server_name.as_str(), "localhost");
        assert_eq!(config.listen.http.to_string(), "0.0.0.0:8080");
        assert_eq!(config.listen.metrics.to_string(), "0.0.0.0:8081");
        assert_eq!(config.listen.pprof, None);
        assert_eq!(config.keys.federation, Path::new("./data/signing.key"));
        assert_eq!(config.keys.policy, Path::new("./data/policy.key"));
        assert_eq!(config.database.url.expose(), "sqlite://./data/palisade.db");
        assert_eq!(config.processing_pool_size, 100);
        assert_eq!(config.moderation.pool_size, 25);
        assert_eq!(config.webhooks.pool_size, 5);
        assert_eq!(config.federation.catchup_interval_seconds, 15);
        assert_eq!(config.federation.join_localpart.as_str(), "policyserv");
        let notary = config.federation.key_query_server.as_ref().map(ToString::to_string);
        assert_eq!(
            notary.as_deref(),
            Some("matrix.org,ed25519:a_RXGa,l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ")
        );
        let allowed: Vec<String> =
            config.federation.allowed_networks.iter().map(ToString::to_string).collect();
        assert_eq!(allowed, ["0.0.0.0/0", "::/0"]);
        let denied: Vec<String> = config.federation.denied_networks.iter().map(ToString::to_string).collect();
        assert!(denied.contains(&"172.16.0.0/12".to_owned()), "{denied:?}");
        assert!(denied.iter().any(|n| n.contains(':')), "IPv6 entries missing: {denied:?}");
    }

    #[test]
    fn denied_networks_typo_names_the_variable() {
        let err =
            load_env(&[("PS_HOMESERVER_DENIED_NETWORKS", "127.0.0.1/8,172.16.0.0./12,::1/128")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "PS_HOMESERVER_DENIED_NETWORKS: \"172.16.0.0./12\" is not a valid CIDR network"
        );
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let cases = [
            ("PS_HOMESERVER_NAME", "bad name", "is not a valid server name"),
            ("PS_HTTP_BIND", "8080", "is not a valid bind address"),
            ("PS_DIRECT_KEY_FETCHING", "", "is not a boolean"),
            ("PS_PROCESSING_POOL_SIZE", "-1", "is not a whole number"),
            ("PS_PROCESSING_POOL_SIZE", "0", "must be at least 1"),
            ("PS_HOMESERVER_MEDIA_CLIENT_URL", "ftp://x.example", "the scheme must be http or https"),
            ("PS_KEY_QUERY_SERVER", "matrix.org", "is not a valid key query server"),
            ("PS_KEY_QUERY_SERVER", "", "no server keys could be fetched"),
            (
                "PS_SUPPORT_ADMIN_CONTACTS",
                "user_example.org",
                "invalid support contact value: user_example.org",
            ),
            ("PS_MODERATOR_ACCESS_TOKENS", "example.org", "every item must look like key:value"),
            ("PS_MODERATOR_ACCESS_TOKENS", "bad host:tok", "is not a valid server name"),
            ("PS_DATABASE", "mysql://x", "is not a valid database URL"),
            (
                "PS_HOMESERVER_EVENT_SIGNING_KEY_PATH",
                "./data/signing.key",
                "policy key must be a separate file",
            ),
            ("PS_HOMESERVER_SIGNING_KEY_PATH", "", "a path must not be empty"),
        ];
        for (name, raw, why) in cases {
            let err = load_env(&[(name, raw)]).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{name}: ")), "{name}={raw:?}: {err}");
            assert!(err.contains(why), "{name}={raw:?}: {err}");
        }
    }

    #[test]
    fn empty_optional_variable_unsets() {
        let (_dir, path) =
            write_toml("[listen]\npprof = \"127.0.0.1:8082\"\n[api]\nkey = \"file-key-0123456789\"\n");
        let config =
            load(Some(&path), &env_of(&[("PS_HTTP_PPROF_BIND", ""), ("PS_API_KEY", "")])).unwrap().config;
        assert_eq!(config.listen.pprof, None);
        assert_eq!(config.api.key, None);
        let config = load_env(&[("PS_HOMESERVER_DENIED_NETWORKS", "")]).unwrap();
        assert!(config.config.federation.denied_networks.is_empty());
        assert!(config.warnings.iter().any(|w| w.starts_with("federation.denied_networks is empty")));
    }

    #[test]
    fn environment_overrides_file() {
        let (_dir, path) = write_toml(
            "server_name = \"file.example\"\n[federation]\njoin_server = \"file.example\"\ndirect_key_fetching = true\n",
        );
        let config = load(Some(&path), &env_of(&[("PS_HOMESERVER_NAME", "env.example")])).unwrap().config;
        assert_eq!(config.server_name.as_str(), "env.example");
        assert_eq!(config.federation.join_server.as_str(), "file.example");
        assert!(config.federation.direct_key_fetching);
        assert_eq!(config.listen.http.to_string(), "0.0.0.0:8080", "untouched settings keep defaults");
    }

    #[test]
    fn unknown_toml_keys_are_errors_naming_the_key() {
        for (text, key) in [
            ("srever_name = \"x.example\"\n", "srever_name"),
            ("[listen]\nhttp_bind = \"0.0.0.0:1\"\n", "http_bind"),
            ("[nonsense]\n", "nonsense"),
            ("[community_defaults]\nno_such_filter = 1\n", "no_such_filter"),
        ] {
            let (_dir, path) = write_toml(text);
            let err = load(Some(&path), &env_of(&[])).unwrap_err().to_string();
            assert!(err.contains("palisade.toml"), "{err}");
            assert!(err.contains(&format!("unknown field `{key}`")), "{err}");
        }
    }

    #[test]
    fn bad_file_values_point_at_the_line() {
        let (_dir, path) =
            write_toml("[federation]\ndenied_networks = [\"10.0.0.0/8\", \"172.16.0.0./12\"]\n");
        let err = load(Some(&path), &env_of(&[])).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("\"172.16.0.0./12\" is not a valid CIDR network"), "{err}");
        let (_dir, path) = write_toml("[keys]\nfederation = \"a.key\"\npolicy = \"./a.key\"\n");
        let err = load(Some(&path), &env_of(&[])).unwrap_err().to_string();
        assert!(err.starts_with("keys.policy: "), "{err}");
        let missing = load(Some(Path::new("/nonexistent/palisade.toml")), &env_of(&[])).unwrap_err();
        assert!(missing.to_string().starts_with("cannot read /nonexistent/palisade.toml"), "{missing}");
    }

    #[test]
    fn community_defaults_from_file_and_environment() {
        let (_dir, path) = write_toml("[community_defaults]\nkeyword_filter_keywords = [\"from file\"]\n");
        let from_file = load(Some(&path), &env_of(&[])).unwrap().config;
        assert_eq!(from_file.community_defaults.keyword_filter_keywords, Some(vec!["from file".to_owned()]));
        let env = env_of(&[("PS_KEYWORD_FILTER_KEYWORDS", "spammy spam,example")]);
        let overridden = load(Some(&path), &env).unwrap().config;
        let expected = vec!["spammy spam".to_owned(), "example".to_owned()];
        assert_eq!(overridden.community_defaults.keyword_filter_keywords, Some(expected));
        let untouched = load_env(&[]).unwrap().config;
        assert_eq!(untouched.community_defaults.keyword_filter_keywords, None);
    }

    #[test]
    fn inbound_federation_settings_from_file() {
        let (_dir, path) = write_toml(concat!(
            "[federation]\naccept_invites = \"listed\"\n",
            "invite_allowed_servers = [\"friends.example\"]\ninvite_allowed_rooms = [\"!r:friends.example\"]\n",
            "well_known_server = \"palisade.example:443\"\nextra_ca_files = [\"/etc/palisade/ca.pem\"]\n",
        ));
        let federation = load(Some(&path), &env_of(&[])).unwrap().config.federation;
        assert_eq!(federation.accept_invites, crate::config::AcceptInvites::Listed);
        assert_eq!(federation.invite_allowed_servers[0].as_str(), "friends.example");
        assert_eq!(federation.invite_allowed_rooms[0].as_str(), "!r:friends.example");
        assert_eq!(
            federation.well_known_server.map(|s| s.to_string()).as_deref(),
            Some("palisade.example:443")
        );
        assert_eq!(federation.extra_ca_files, [Path::new("/etc/palisade/ca.pem")]);
        let (_dir, path) = write_toml("[federation]\naccept_invites = \"sometimes\"\n");
        let err = load(Some(&path), &env_of(&[])).unwrap_err().to_string();
        assert!(err.contains("expected never, always or listed"), "{err}");
    }

    #[test]
    fn community_overlay_keeps_file_values_for_unset_keys() {
        let file: CommunityConfig =
            serde_json::from_value(serde_json::json!({"keyword_filter_keywords": ["a"]})).unwrap();
        let merged = overlay_community(&file, &CommunityConfig::default()).unwrap();
        assert_eq!(merged.keyword_filter_keywords, Some(vec!["a".to_owned()]));
    }
}
