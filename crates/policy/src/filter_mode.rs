//! How a filter takes part in a decision.

use serde::{Deserialize, Serialize};

/// Per-filter mode. `Shadow` lets a community try a filter out: it runs and its outcome is recorded in the trace,
/// but it never changes the verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterMode {
    /// The filter's outcome counts.
    #[default]
    Enforce,
    /// The filter runs, its outcome is recorded, the verdict ignores it.
    Shadow,
    /// The filter does not run.
    Off,
}

impl FilterMode {
    /// The configuration name (`enforce`, `shadow`, `off`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Shadow => "shadow",
            Self::Off => "off",
        }
    }

    /// Parses a configuration name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "enforce" => Some(Self::Enforce),
            "shadow" => Some(Self::Shadow),
            "off" => Some(Self::Off),
            _ => None,
        }
    }
}
