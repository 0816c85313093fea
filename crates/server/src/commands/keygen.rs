//! `palisade keygen`: write a new federation key and a new policy key to the configured paths.
//!
//! After a rotation (`--overwrite`) every protected room must name the new policy key, so the report ends with the
//! `m.room.policy` content to send (the setup bot's `admin_update_keys` does this for every room).

use palisade_matrix::{OwnedServerName, RoomPolicy};

use crate::{config::Config, key_files};

/// Writes both keys and returns what to tell the operator.
pub fn run(config: &Config, overwrite: bool) -> Result<String, key_files::KeyFilesError> {
    let keys = key_files::generate(&config.keys.federation, &config.keys.policy, overwrite)?;
    let mut report = format!(
        "federation key {} written to {}\npolicy key ed25519:policy_server ({}) written to {}\n",
        keys.federation.key_id(),
        config.keys.federation.display(),
        keys.policy.public_key_base64(),
        config.keys.policy.display(),
    );
    if let Ok(server_name) = OwnedServerName::try_from(config.server_name.as_str()) {
        let policy = RoomPolicy::new(&server_name, keys.policy.public_key());
        report.push_str(&format!(
            "rooms protected by this server need this m.room.policy content (state key \"\"):\n{}\n",
            policy.stable_content()
        ));
    }
    Ok(report)
}
