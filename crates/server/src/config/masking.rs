//! Showing the effective configuration without its secrets (`palisade config check`).

use toml::Value;

use super::Config;
use super::database_url::mask_url_password;
use super::error::ConfigError;
use super::settings::{Mask, SETTINGS};

/// What replaces a secret.
const MASK: &str = "***";

/// Renders `config` as TOML with every secret setting masked as its [`Mask`] says.
pub(crate) fn render_masked(config: &Config) -> Result<String, ConfigError> {
    let render_error =
        |e: &dyn std::fmt::Display| ConfigError::invalid("configuration", format!("cannot render: {e}"));
    let mut value = Value::try_from(config).map_err(|e| render_error(&e))?;
    for setting in SETTINGS.iter().filter(|s| s.mask != Mask::Plain) {
        if let Some(slot) = value_at_mut(&mut value, setting.key) {
            mask(slot, setting.mask);
        }
    }
    toml::to_string_pretty(&value).map_err(|e| render_error(&e))
}

/// The value at a dotted key, if present.
pub(crate) fn value_at_mut<'v>(value: &'v mut Value, key: &str) -> Option<&'v mut Value> {
    key.split('.').try_fold(value, |current, part| current.as_table_mut()?.get_mut(part))
}

/// Masks one value in place. Empty strings stay empty: "unset" is not a secret and is useful to see.
fn mask(slot: &mut Value, how: Mask) {
    match (how, slot) {
        (Mask::Whole, Value::String(s)) if !s.is_empty() => *s = MASK.to_owned(),
        (Mask::UrlPassword, Value::String(s)) => *s = mask_url_password(s),
        (Mask::MapValues, Value::Table(table)) => {
            for (_, entry) in table.iter_mut() {
                *entry = Value::String(MASK.to_owned());
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_the_rest_round_trips() {
        let env = |name: &str| {
            let value = match name {
                "PS_API_KEY" => "admin-key-0123456789",
                "PS_HOMESERVER_MEDIA_CLIENT_ACCESS_TOKEN" => "media-token",
                "PS_OPENAI_FILTER_API_KEY" => "sk-openai",
                "PS_HMA_API_KEY" => "hma-key",
                "PS_HMA_API_URL" => "https://hma.example",
                "PS_MUNINN_HALL_SOURCE_API_KEY" => "muninn-key",
                "PS_DATABASE" => "postgres://palisade:db-password@db.example/palisade",
                "PS_DATABASE_READ" => "postgres://reader:read-password@replica.example/palisade",
                "PS_MODERATOR_ACCESS_TOKENS" => "example.org:mod-token-1,example.com:mod-token-2",
                "PS_HOMESERVER_NAME" => "policy.example.org",
                _ => return None,
            };
            Some(value.to_owned())
        };
        let loaded = Config::load(None, &env).unwrap();
        let rendered = loaded.config.render_masked().unwrap();
        for secret in [
            "admin-key-0123456789",
            "media-token",
            "sk-openai",
            "hma-key",
            "muninn-key",
            "db-password",
            "read-password",
            "mod-token-1",
            "mod-token-2",
        ] {
            assert!(!rendered.contains(secret), "{secret} leaked:\n{rendered}");
        }
        let parsed: Value = toml::from_str(&rendered).unwrap();
        assert_eq!(parsed["api"]["key"].as_str(), Some(MASK));
        assert_eq!(parsed["database"]["url"].as_str(), Some("postgres://palisade:***@db.example/palisade"));
        assert_eq!(parsed["moderation"]["access_tokens"]["example.org"].as_str(), Some(MASK));
        assert_eq!(parsed["server_name"].as_str(), Some("policy.example.org"));
        assert_eq!(parsed["hma"]["api_url"].as_str(), Some("https://hma.example"));
    }

    #[test]
    fn unset_secrets_render_empty_and_defaults_reload() {
        let rendered = Config::default().render_masked().unwrap();
        let parsed: Value = toml::from_str(&rendered).unwrap();
        assert_eq!(parsed["api"]["key"].as_str(), Some(""));
        let reloaded: Config = toml::from_str(&rendered).unwrap();
        assert_eq!(Value::try_from(&reloaded).unwrap(), Value::try_from(Config::default()).unwrap());
    }
}
