//! The settings reference in `docs/configuration.md`, generated from [`SETTINGS`] and the defaults so that the
//! documentation cannot drift from the code: a test compares the file with [`reference_table`].

use std::fmt::Write;

use toml::Value;

use super::Config;
use super::load::leaf_values;
use super::settings::{COMMUNITY_ALIASES, IGNORED_VARIABLES, SETTINGS};

/// Marks the start of the generated part of `docs/configuration.md`.
pub const BEGIN_MARKER: &str =
    "<!-- BEGIN GENERATED SETTINGS (edit crates/server/src/config/settings.rs) -->";
/// Marks the end of the generated part.
pub const END_MARKER: &str = "<!-- END GENERATED SETTINGS -->";

/// The Markdown reference: one table row per setting, then the accepted misspellings and ignored variables.
pub fn reference_table() -> String {
    let defaults = leaf_values(&Config::default());
    let mut out =
        String::from("| TOML key | Environment | Type | Default | Meaning |\n|---|---|---|---|---|\n");
    for setting in SETTINGS {
        let env = match setting.env {
            Some(name) => {
                let aliases: Vec<String> = setting.aliases.iter().map(|a| format!("`{a}`")).collect();
                if aliases.is_empty() {
                    format!("`{name}`")
                } else {
                    format!("`{name}` (also {})", aliases.join(", "))
                }
            }
            None => "—".to_owned(),
        };
        let default = defaults.get(setting.key).map_or_else(|| "—".to_owned(), render_default);
        let _ = writeln!(
            out,
            "| `{}` | {env} | {} | {default} | {} |",
            setting.key,
            setting.kind.describe(),
            setting.help
        );
    }
    out.push_str("\nMisspelt community variables from policyserv's README, accepted with a warning:\n\n");
    for (real, alias) in COMMUNITY_ALIASES {
        let _ = writeln!(out, "* `{alias}` → `{real}`");
    }
    out.push_str("\npolicyserv variables Palisade ignores (a warning is logged when set):\n\n");
    for (name, reason) in IGNORED_VARIABLES {
        let _ = writeln!(out, "* `{name}`: {reason}.");
    }
    out
}

/// A default as it would be written in TOML; empty values read "unset".
fn render_default(value: &Value) -> String {
    match value {
        Value::String(s) if s.is_empty() => "unset".to_owned(),
        Value::Array(items) if items.is_empty() => "empty".to_owned(),
        Value::Table(table) if table.is_empty() => "empty".to_owned(),
        other => format!("`{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::*;

    fn repo_file(relative: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
    }

    /// Fails when `docs/configuration.md` differs from the generated reference. To refresh it, run
    /// `PALISADE_BLESS=1 cargo test -p palisade-server docs_reference_is_current`.
    #[test]
    fn docs_reference_is_current() {
        let path = repo_file("docs/configuration.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (head, rest) = doc.split_once(BEGIN_MARKER).expect("begin marker");
        let (current, tail) = rest.split_once(END_MARKER).expect("end marker");
        let expected = format!("\n{}", reference_table());
        if current != expected && std::env::var_os("PALISADE_BLESS").is_some() {
            std::fs::write(&path, format!("{head}{BEGIN_MARKER}{expected}{END_MARKER}{tail}")).unwrap();
            return;
        }
        assert!(
            current == expected,
            "docs/configuration.md is stale; run with PALISADE_BLESS=1 to regenerate"
        );
    }

    #[test]
    fn every_variable_is_in_the_docs() {
        let doc = std::fs::read_to_string(repo_file("docs/configuration.md")).unwrap();
        for setting in SETTINGS {
            assert!(doc.contains(&format!("`{}`", setting.key)), "{}", setting.key);
            for name in setting.env.iter().chain(setting.aliases) {
                assert!(doc.contains(&format!("`{name}`")), "{name}");
            }
        }
    }

    /// The example loads, and sets (or shows) every setting.
    #[test]
    fn example_file_loads_and_covers_every_setting() {
        let path = repo_file("examples/palisade.toml");
        let loaded = Config::load(Some(&path), &|_| None).unwrap_or_else(|e| panic!("{e}"));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let mut table: Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let keys: BTreeSet<&str> = SETTINGS.iter().map(|s| s.key).collect();
        let mut leaves = Vec::new();
        crate::config::load::collect_leaves(&mut table, String::new(), &keys, &mut leaves);
        let leaves: BTreeSet<&str> = leaves.iter().map(String::as_str).collect();
        assert_eq!(leaves, keys, "examples/palisade.toml must set every setting");
    }

    #[test]
    fn defaults_render_readably() {
        let table = reference_table();
        assert!(
            table.contains("| `listen.http` | `PS_HTTP_BIND` | ip:port | `\"0.0.0.0:8080\"` |"),
            "{table}"
        );
        assert!(table.contains("`PS_HTTP_METRICS_BIND` (also `PS_METRICS_BIND`)"), "{table}");
        assert!(table.contains("| `api.key` | `PS_API_KEY` | secret or empty | unset |"), "{table}");
    }
}
