//! Reading `PS_*` environment values and layering one key.

use std::collections::BTreeMap;

use super::CommunityConfigError;
use crate::{FilterId, FilterMode};

/// The environment variable for a JSON key: `PS_` + the upper-cased key (policyserv / envconfig naming).
pub(crate) fn env_name(key: &str) -> String {
    format!("PS_{}", key.to_ascii_uppercase())
}

/// Reads the variable for `key`, if set. Parse errors name the variable.
pub(super) fn read<T: EnvValue>(
    lookup: &dyn Fn(&str) -> Option<String>,
    key: &str,
) -> Result<Option<T>, CommunityConfigError> {
    let name = env_name(key);
    match lookup(&name) {
        None => Ok(None),
        Some(raw) => T::parse_env(&raw).map(Some).map_err(|message| CommunityConfigError::new(name, message)),
    }
}

/// A value that can be written in an environment variable.
pub(super) trait EnvValue: Sized {
    /// Parses the variable's text; the error says what was expected.
    fn parse_env(raw: &str) -> Result<Self, String>;
}

impl EnvValue for bool {
    /// Go's `strconv.ParseBool` spellings, which envconfig uses.
    fn parse_env(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            other => Err(format!("expected a boolean (true/false), got {other:?}")),
        }
    }
}

impl EnvValue for i64 {
    fn parse_env(raw: &str) -> Result<Self, String> {
        raw.trim().parse().map_err(|_| format!("expected an integer, got {raw:?}"))
    }
}

impl EnvValue for f64 {
    fn parse_env(raw: &str) -> Result<Self, String> {
        raw.trim().parse().map_err(|_| format!("expected a number, got {raw:?}"))
    }
}

impl EnvValue for String {
    fn parse_env(raw: &str) -> Result<Self, String> {
        Ok(raw.to_owned())
    }
}

impl EnvValue for Vec<String> {
    /// Comma-separated; an empty (or blank) variable is the empty list, which is how a list is switched off.
    /// Entries are kept verbatim (keywords may have meaningful spaces); empty entries are left for validation.
    fn parse_env(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Ok(Vec::new());
        }
        Ok(raw.split(',').map(str::to_owned).collect())
    }
}

impl EnvValue for BTreeMap<FilterId, FilterMode> {
    /// `name=mode,name=mode`.
    fn parse_env(raw: &str) -> Result<Self, String> {
        let mut modes = BTreeMap::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, mode) =
                entry.split_once('=').ok_or_else(|| format!("expected filter=mode, got {entry:?}"))?;
            let filter =
                FilterId::from_name(name.trim()).ok_or_else(|| format!("unknown filter {name:?}"))?;
            let mode = FilterMode::from_name(mode.trim())
                .ok_or_else(|| format!("unknown mode {mode:?} (enforce, shadow, off)"))?;
            modes.insert(filter, mode);
        }
        Ok(modes)
    }
}
