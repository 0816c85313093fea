//! The environment layer: which variables are set, how they land on the TOML table, and which `PS_*`
//! variables nobody reads.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use palisade_policy::CommunityConfig;
use toml::{Table, Value};

use super::env_file::read_env_file;
use super::error::ConfigError;
use super::settings::{COMMUNITY_ALIASES, IGNORED_VARIABLES, SETTINGS, Setting};

/// A snapshot of environment variables: the process environment, optionally over an env-file.
#[derive(Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// The process environment. Variables that are not UTF-8 are skipped: no setting can use them.
    pub fn from_process() -> Self {
        let vars =
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Self { vars: vars.collect() }
    }

    /// An environment made of these pairs (later pairs win).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// Adds the variables of an env-file beneath the ones already present: the real environment wins, as with
    /// `docker run -e` over `--env-file`.
    pub fn with_env_file(mut self, path: &Path) -> Result<Self, ConfigError> {
        for (name, value) in read_env_file(path)? {
            self.vars.entry(name).or_insert(value);
        }
        Ok(self)
    }

    /// The value of a variable, if set.
    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// The names of all variables.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }
}

/// Only names: values may be secrets.
impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment").field("names", &self.vars.keys().collect::<Vec<_>>()).finish()
    }
}

/// Writes every set instance variable into `table` at its TOML key. Returns TOML key → variable name for the
/// keys that came from the environment, so later errors can name the variable.
pub(crate) fn overlay_env(
    table: &mut Table,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<&'static str, &'static str>, ConfigError> {
    let mut sources = BTreeMap::new();
    for setting in SETTINGS {
        let Some((name, raw)) = lookup_setting(setting, env, warnings) else {
            continue;
        };
        let value = setting.kind.parse_env(&raw).map_err(|message| ConfigError::invalid(name, message))?;
        insert_at(table, setting.key, value).map_err(|message| ConfigError::invalid(name, message))?;
        sources.insert(setting.key, name);
    }
    for (name, reason) in IGNORED_VARIABLES {
        if env(name).is_some() {
            warnings.push(format!("{name} is ignored: {reason}"));
        }
    }
    Ok(sources)
}

/// The variable that sets `setting`: its real name first, then a misspelling (with a warning).
fn lookup_setting(
    setting: &Setting,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Option<(&'static str, String)> {
    let real = setting.env?;
    let real_value = env(real);
    for alias in setting.aliases {
        if env(alias).is_some() {
            warnings.push(alias_warning(real, alias, real_value.is_some()));
        }
    }
    if let Some(value) = real_value {
        return Some((real, value));
    }
    setting.aliases.iter().find_map(|alias| env(alias).map(|value| (*alias, value)))
}

/// The warning for a misspelt variable that is set.
fn alias_warning(real: &str, alias: &str, real_is_set: bool) -> String {
    if real_is_set {
        format!("{alias} is ignored because {real} is set")
    } else {
        format!("{alias} is a misspelling from policyserv's documentation; it is accepted, but use {real}")
    }
}

/// Sets `value` at a dotted key, creating the tables on the way.
fn insert_at(table: &mut Table, key: &str, value: Value) -> Result<(), String> {
    let mut current = table;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            current.insert(part.to_owned(), value);
            return Ok(());
        }
        let entry = current.entry(part.to_owned()).or_insert_with(|| Value::Table(Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{part}` in the configuration file is not a table"))?;
    }
    Ok(())
}

/// Reads the instance-level community defaults from the environment, resolving policyserv's README
/// misspellings to the names `CommunityConfig::from_env` asks for.
pub(crate) fn community_from_env(
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<CommunityConfig, ConfigError> {
    for (real, alias) in COMMUNITY_ALIASES {
        if env(alias).is_some() {
            warnings.push(alias_warning(real, alias, env(real).is_some()));
        }
    }
    let lookup = community_lookup(env);
    CommunityConfig::from_env(&lookup).map_err(|error| {
        // Name the variable the operator actually wrote, which may be the misspelling.
        let key = match COMMUNITY_ALIASES.iter().find(|(real, _)| *real == error.key) {
            Some((real, alias)) if env(real).is_none() && env(alias).is_some() => (*alias).to_owned(),
            _ => error.key,
        };
        ConfigError::invalid(key, error.message)
    })
}

/// A lookup that falls back to a misspelt name when the real one is unset.
fn community_lookup(env: &dyn Fn(&str) -> Option<String>) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| {
        env(name).or_else(|| {
            COMMUNITY_ALIASES.iter().find(|(real, _)| *real == name).and_then(|(_, alias)| env(alias))
        })
    }
}

/// The variables `CommunityConfig::from_env` reads, learnt by asking it with an empty environment. This keeps
/// the list in the policy crate, where the community settings are defined.
fn community_variable_names() -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    let record = |name: &str| {
        asked.borrow_mut().insert(name.to_owned());
        None
    };
    // An empty environment cannot be invalid; the result only matters for the names asked.
    let _ = CommunityConfig::from_env(&record);
    asked.into_inner()
}

/// Every `PS_*` name Palisade understands, ignores knowingly, or accepts as a misspelling.
pub fn known_variable_names() -> BTreeSet<String> {
    let mut names = community_variable_names();
    for setting in SETTINGS {
        names.extend(setting.env.iter().chain(setting.aliases).map(|n| (*n).to_owned()));
    }
    names.extend(IGNORED_VARIABLES.iter().map(|(name, _)| (*name).to_owned()));
    names
        .extend(COMMUNITY_ALIASES.iter().flat_map(|(real, alias)| [(*real).to_owned(), (*alias).to_owned()]));
    names
}

/// Warnings for `PS_*` variables that no setting reads, with the closest known name as a hint.
pub fn unknown_variable_warnings<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let known = known_variable_names();
    names
        .into_iter()
        .filter(|name| name.starts_with("PS_") && !known.contains(*name))
        .map(|name| match closest(name, &known) {
            Some(hint) => format!("{name} is not a Palisade setting and is ignored (did you mean {hint}?)"),
            None => format!("{name} is not a Palisade setting and is ignored"),
        })
        .collect()
}

/// The known name within a small edit distance of `name`, if any.
fn closest<'k>(name: &str, known: &'k BTreeSet<String>) -> Option<&'k str> {
    known
        .iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.as_str())
}

/// Levenshtein distance over bytes (variable names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let env = Environment::from_pairs(pairs.iter().map(|(k, v)| (*k, *v)));
        move |name: &str| env.get(name)
    }

    #[test]
    fn environment_file_is_beneath_real_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ps.env");
        std::fs::write(&path, "PS_JOIN_SERVER=file.example\nPS_JOIN_LOCALPART=fromfile\n").unwrap();
        let env = Environment::from_pairs([("PS_JOIN_SERVER", "real.example")]).with_env_file(&path).unwrap();
        assert_eq!(env.get("PS_JOIN_SERVER").as_deref(), Some("real.example"));
        assert_eq!(env.get("PS_JOIN_LOCALPART").as_deref(), Some("fromfile"));
        assert!(!format!("{env:?}").contains("real.example"));
    }

    #[test]
    fn aliases_apply_and_warn() {
        let mut table = Table::new();
        let mut warnings = Vec::new();
        let env = env_of(&[("PS_METRICS_BIND", "127.0.0.1:9100")]);
        let sources = overlay_env(&mut table, &env, &mut warnings).unwrap();
        assert_eq!(sources.get("listen.metrics"), Some(&"PS_METRICS_BIND"));
        assert_eq!(table["listen"]["metrics"].as_str(), Some("127.0.0.1:9100"));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("use PS_HTTP_METRICS_BIND"), "{warnings:?}");
    }

    #[test]
    fn real_name_wins_over_alias() {
        let mut table = Table::new();
        let mut warnings = Vec::new();
        let env = env_of(&[("PS_DATABASE_READ_MAX_OPEN", "3"), ("PS_DATABASE_READ_MAX_OPEN_CONNS", "4")]);
        overlay_env(&mut table, &env, &mut warnings).unwrap();
        assert_eq!(table["database"]["read_max_open_connections"].as_integer(), Some(3));
        assert_eq!(
            warnings,
            ["PS_DATABASE_READ_MAX_OPEN_CONNS is ignored because PS_DATABASE_READ_MAX_OPEN is set"]
        );
    }

    #[test]
    fn community_misspellings_resolve_to_real_names() {
        let env = env_of(&[
            ("PS_TRIM_FILTER_MAX_DIFFERENCE", "7"),
            ("PS_KEYWORD_TEMPLATE_FILTER_USE_FULL_EVENT", "true"),
        ]);
        let lookup = community_lookup(&env);
        assert_eq!(lookup("PS_TRIM_LENGTH_FILTER_MAX_DIFFERENCE").as_deref(), Some("7"));
        assert_eq!(lookup("PS_KEYWORD_TEMPLATE_FILTER_USE_FULL_EVENT").as_deref(), Some("true"));
        assert_eq!(lookup("PS_LENGTH_FILTER_MAX_LENGTH"), None);
        let mut warnings = Vec::new();
        community_from_env(&env, &mut warnings).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("PS_TRIM_FILTER_MAX_DIFFERENCE is a misspelling"), "{warnings:?}");
    }

    #[test]
    fn real_community_name_wins_over_misspelling() {
        let env =
            env_of(&[("PS_TRIM_FILTER_MAX_DIFFERENCE", "7"), ("PS_TRIM_LENGTH_FILTER_MAX_DIFFERENCE", "9")]);
        assert_eq!(community_lookup(&env)("PS_TRIM_LENGTH_FILTER_MAX_DIFFERENCE").as_deref(), Some("9"));
    }

    #[test]
    fn community_names_are_learnt_from_the_policy_crate() {
        let names = community_variable_names();
        assert!(names.contains("PS_KEYWORD_FILTER_KEYWORDS"), "{names:?}");
        assert!(known_variable_names().contains("PS_KEYWORD_FILTER_KEYWORDS"));
    }

    #[test]
    fn unknown_variables_warn_with_hint() {
        let warnings = unknown_variable_warnings([
            "PS_HTTP_BIND",
            "PS_HTTP_BINDD",
            "PS_COMPLETELY_UNRELATED_THING",
            "HOME",
            "PS_METRICS_BIND",
            "PS_KEYWORD_FILTER_KEYWORDS",
        ]);
        assert_eq!(
            warnings,
            [
                "PS_HTTP_BINDD is not a Palisade setting and is ignored (did you mean PS_HTTP_BIND?)",
                "PS_COMPLETELY_UNRELATED_THING is not a Palisade setting and is ignored",
            ]
        );
    }

    #[test]
    fn ignored_variables_warn() {
        let mut warnings = Vec::new();
        let env = env_of(&[("PS_DATABASE_MIGRATIONS_DIR", "/opt/migrations")]);
        overlay_env(&mut Table::new(), &env, &mut warnings).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("PS_DATABASE_MIGRATIONS_DIR is ignored"), "{warnings:?}");
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
