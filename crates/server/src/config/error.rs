//! Why a configuration could not be loaded. Every message names the setting (TOML key or environment
//! variable) or the file and line at fault.

use std::path::PathBuf;

/// A configuration that cannot be used; the server refuses to start with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file (configuration or env-file) could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML file is malformed, has an unknown key or a bad value. `message` is toml's report, which points at
    /// the line and names unknown keys.
    #[error("{path}: {message}")]
    Toml {
        /// The configuration file.
        path: PathBuf,
        /// toml's description, with line and column.
        message: String,
    },
    /// A line of an env-file could not be parsed.
    #[error("{path}:{line}: {message}")]
    EnvFile {
        /// The env-file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// A setting has a bad value. `key` is the environment variable it came from, or its TOML key.
    #[error("{key}: {message}")]
    Invalid {
        /// `PS_…` variable or dotted TOML key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// Shorthand for [`ConfigError::Invalid`].
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { key: key.into(), message: message.into() }
    }
}
