//! Instance configuration of `palisade`: a TOML file overlaid by environment variables.
//!
//! Layers, lowest first: built-in defaults ([`sections`]) → the TOML file → an env-file (`--env-file`) → the
//! process environment. Environment variables use policyserv's `PS_*` names (and the misspellings its README
//! and demo used), so an existing policyserv deployment's environment keeps working; see
//! `docs/configuration.md` for the full reference, which is generated from [`settings::SETTINGS`].
//!
//! Everything is checked while loading, and a failure names the TOML key or variable at fault; a config that
//! loads is safe to start with. Loading also returns warnings (misspelt or unknown `PS_*` variables, risky
//! values) that the caller should log.

pub mod bind;
pub mod database_url;
pub mod docs;
pub mod env;
pub mod env_file;
mod env_value;
pub mod error;
pub mod http_url;
pub mod invites;
mod load;
pub mod log_format;
mod masking;
pub mod matrix_id;
pub mod network;
pub mod notary;
mod optional;
pub mod secret;
pub mod sections;
pub mod server_name;
pub mod settings;
pub mod support_contact;
mod validate;

use std::path::Path;

use palisade_policy::CommunityConfig;
use serde::{Deserialize, Serialize};

pub use bind::BindAddress;
pub use database_url::{DatabaseBackend, DatabaseUrl};
pub use env::Environment;
pub use error::ConfigError;
pub use http_url::HttpUrl;
pub use invites::AcceptInvites;
pub use log_format::LogFormat;
pub use matrix_id::{Localpart, RoomId};
pub use network::Network;
pub use notary::NotaryServer;
pub use secret::Secret;
pub use sections::{
    Api, Database, Federation, Hma, Keys, Listen, Media, Moderation, Muninn, OpenAi, Outside, Support,
    Webhooks,
};
pub use server_name::ServerName;
pub use support_contact::SupportContact;

/// The whole instance configuration. Field documentation says what each setting does; defaults are in
/// [`sections`] and in the `Default` impl below.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Our server name (`PS_HOMESERVER_NAME`). Policy signatures are made under it.
    pub server_name: ServerName,
    /// Events checked concurrently (`PS_PROCESSING_POOL_SIZE`).
    pub processing_pool_size: u32,
    /// Rooms joined at startup into the `default` community (`PS_JOIN_ROOM_IDS`).
    pub join_room_ids: Vec<RoomId>,
    /// How `palisade serve` writes its logs (`PS_LOG_FORMAT`): `text` or `json`.
    pub log_format: LogFormat,
    /// HTTP listeners.
    pub listen: Listen,
    /// Signing key files.
    pub keys: Keys,
    /// Storage.
    pub database: Database,
    /// Admin API.
    pub api: Api,
    /// Federation client, keys, joins and state learning.
    pub federation: Federation,
    /// Media downloads.
    pub media: Media,
    /// OpenAI moderation.
    pub openai: OpenAi,
    /// Hasher-Matcher-Actioner.
    pub hma: Hma,
    /// Muninn Hall directory.
    pub muninn: Muninn,
    /// Time budget, timeouts and allowed networks of outside services.
    pub outside: Outside,
    /// Community webhooks.
    pub webhooks: Webhooks,
    /// Redactions and policy lists.
    pub moderation: Moderation,
    /// `/.well-known/matrix/support`.
    pub support: Support,
    /// The instance's community filter settings: what a community inherits unless it overrides a key.
    /// Environment names are `PS_` + the upper-cased key, as in policyserv.
    pub community_defaults: CommunityConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server_name: ServerName::trusted("localhost"),
            processing_pool_size: 100,
            join_room_ids: Vec::new(),
            log_format: LogFormat::Text,
            listen: Listen::default(),
            keys: Keys::default(),
            database: Database::default(),
            api: Api::default(),
            federation: Federation::default(),
            media: Media::default(),
            openai: OpenAi::default(),
            hma: Hma::default(),
            muninn: Muninn::default(),
            outside: Outside::default(),
            webhooks: Webhooks::default(),
            moderation: Moderation::default(),
            support: Support::default(),
            community_defaults: CommunityConfig::default(),
        }
    }
}

/// A loaded configuration and the warnings the caller should log.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The checked configuration.
    pub config: Config,
    /// Things that are allowed but probably wrong (misspelt or unknown variables, risky values).
    pub warnings: Vec<String>,
}

impl Config {
    /// Loads defaults → `file` (if any) → variables from `env`, and checks the result.
    ///
    /// `env` answers whether a variable is set. Warnings about unknown `PS_*` variables need the list of names
    /// and come from [`Config::load_from_environment`] instead.
    pub fn load(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
        load::load(file, env)
    }

    /// Like [`Config::load`] with an [`Environment`], adding warnings for `PS_*` variables nothing reads.
    pub fn load_from_environment(file: Option<&Path>, env: &Environment) -> Result<Loaded, ConfigError> {
        let mut loaded = load::load(file, &|name| env.get(name))?;
        loaded.warnings.extend(env::unknown_variable_warnings(env.names()));
        Ok(loaded)
    }

    /// The effective configuration as TOML, with secrets (API keys, access tokens, database passwords) shown as
    /// `***`. Loading the output again gives the same configuration, apart from the masked secrets.
    pub fn render_masked(&self) -> Result<String, ConfigError> {
        masking::render_masked(self)
    }
}

/// Loads the configuration the way `palisade serve` does: the process environment over `env_file` (if any),
/// over `file` (if any), over the defaults.
pub fn load_for_process(file: Option<&Path>, env_file: Option<&Path>) -> Result<Loaded, ConfigError> {
    let mut environment = Environment::from_process();
    if let Some(path) = env_file {
        environment = environment.with_env_file(path)?;
    }
    Config::load_from_environment(file, &environment)
}

/// `palisade config check`: loads like [`load_for_process`] and returns the masked effective configuration,
/// with the warnings as TOML comments on top.
pub fn check_command(file: Option<&Path>, env_file: Option<&Path>) -> Result<String, ConfigError> {
    let loaded = load_for_process(file, env_file)?;
    Ok(with_warning_comments(&loaded.warnings, &loaded.config.render_masked()?))
}

/// Prefixes rendered TOML with one `# warning:` comment per warning.
fn with_warning_comments(warnings: &[String], rendered: &str) -> String {
    let mut out = String::new();
    for warning in warnings {
        out.push_str("# warning: ");
        out.push_str(&warning.replace('\n', " "));
        out.push('\n');
    }
    if !warnings.is_empty() {
        out.push('\n');
    }
    out.push_str(rendered);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_command_masks_and_lists_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("palisade.toml");
        std::fs::write(&file, "server_name = \"example.org\"\n[api]\nkey = \"topsecretadminkey\"\n").unwrap();
        let env_file = dir.path().join("policyserv.env");
        std::fs::write(&env_file, "PS_METRICS_BIND=127.0.0.1:9100\n").unwrap();
        let output = check_command(Some(&file), Some(&env_file)).unwrap();
        assert!(output.starts_with("# warning: PS_METRICS_BIND is a misspelling"), "{output}");
        assert!(output.contains("server_name = \"example.org\""), "{output}");
        assert!(output.contains("key = \"***\""), "{output}");
        assert!(!output.contains("topsecretadminkey"), "{output}");
    }

    #[test]
    fn check_command_reports_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("palisade.toml");
        std::fs::write(&file, "[keys]\nfederation = \"same.key\"\npolicy = \"./same.key\"\n").unwrap();
        let err = check_command(Some(&file), None).unwrap_err().to_string();
        assert!(err.starts_with("keys.policy:"), "{err}");
    }

    #[test]
    fn warning_comments_are_single_lines() {
        let text = with_warning_comments(&["a\nb".to_owned()], "x = 1\n");
        assert_eq!(text, "# warning: a b\n\nx = 1\n");
        assert_eq!(with_warning_comments(&[], "x = 1\n"), "x = 1\n");
    }
}
