//! `log_format`: how `palisade serve` writes its log lines to standard error.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields, spans), for log collectors.
    Json,
}

impl LogFormat {
    /// The spelling used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.trim() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("{other:?} is not a log format (expected text or json)")),
        }
    }
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl From<LogFormat> for String {
    fn from(format: LogFormat) -> Self {
        format.as_str().to_owned()
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_both_formats() {
        for format in [LogFormat::Text, LogFormat::Json] {
            assert_eq!(format.as_str().parse::<LogFormat>(), Ok(format));
            assert_eq!(String::from(format), format.to_string());
        }
        let err = "xml".parse::<LogFormat>().unwrap_err();
        assert!(err.contains("expected text or json"), "{err}");
        assert_eq!(LogFormat::default(), LogFormat::Text);
    }
}
