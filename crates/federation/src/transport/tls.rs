//! Outbound TLS: the platform's roots plus operator-configured CA files.

use std::path::PathBuf;

/// Why the HTTP clients could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A configured CA file could not be read.
    #[error("cannot read CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// reqwest refused the configuration.
    #[error("cannot build HTTP client: {0}")]
    Client(String),
}

/// Installs rustls' ring provider as the process default. reqwest is built without a provider of its own (to
/// avoid the aws-lc C build), so this must happen before the first client is built. Installing twice, or after
/// another component installed one, is harmless: the first provider stays.
pub(crate) fn install_crypto_provider() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}

/// Reads every certificate from each PEM file.
pub(crate) fn load_extra_roots(files: &[PathBuf]) -> Result<Vec<reqwest::Certificate>, TlsSetupError> {
    let mut roots = Vec::new();
    for path in files {
        let error = |reason: String| TlsSetupError::CaFile { path: path.clone(), reason };
        let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| error(e.to_string()))?;
        if certificates.is_empty() {
            return Err(error("no certificates in file".to_owned()));
        }
        roots.extend(certificates);
    }
    Ok(roots)
}
