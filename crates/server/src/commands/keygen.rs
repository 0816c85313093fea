//! `palisade keygen`: write a new federation key and a new policy key to the configured paths.

use crate::{config::Config, key_files};

/// Writes both keys and returns what to tell the operator.
pub fn run(config: &Config, overwrite: bool) -> Result<String, key_files::KeyFilesError> {
    let keys = key_files::generate(&config.keys.federation, &config.keys.policy, overwrite)?;
    Ok(format!(
        "federation key {} written to {}\npolicy key ed25519:policy_server ({}) written to {}\n",
        keys.federation.key_id(),
        config.keys.federation.display(),
        keys.policy.public_key_base64(),
        config.keys.policy.display(),
    ))
}
