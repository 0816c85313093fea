//! The two signing keys on disk: the federation key (published at `/_matrix/key/v2/server`, signs requests) and
//! the policy key (signs events as `ed25519:policy_server`). They are always separate files, so a leaked policy
//! key cannot impersonate the server and the policy key can be rotated on its own.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use palisade_matrix::{
    SigningKey,
    keys::{POLICY_SERVER_KEY_VERSION, parse_key_file, random_key_version},
};

/// The keys Palisade signs with.
#[derive(Debug)]
pub struct ServerKeyPair {
    /// Signs federation requests and our key document (shared with the outbound client).
    pub federation: Arc<SigningKey>,
    /// Signs events for rooms that name us in `m.room.policy`; always used as `ed25519:policy_server`.
    pub policy: SigningKey,
}

/// Why the keys could not be loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFilesError {
    /// Both roles point at one file.
    #[error("the federation key and the policy key must be different files (both are {0})")]
    SamePath(PathBuf),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file did not hold a usable key.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        source: palisade_matrix::KeyFileError,
    },
    /// `keygen` was asked to replace an existing key without `--overwrite`.
    #[error(
        "{0} already exists; pass --overwrite to replace it (rooms that name the old policy key stop working)"
    )]
    Exists(PathBuf),
}

/// What [`load_or_generate`] did for each key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Read from its file.
    Loaded,
    /// Created because the file did not exist.
    Generated,
}

/// Loads both keys, generating any that does not exist yet (zero-configuration start).
pub fn load_or_generate(
    federation_path: &Path,
    policy_path: &Path,
) -> Result<(ServerKeyPair, [KeyOrigin; 2]), KeyFilesError> {
    check_distinct(federation_path, policy_path)?;
    let (federation, federation_origin) = load_or_create(federation_path, &random_key_version())?;
    let (policy, policy_origin) = load_or_create(policy_path, POLICY_SERVER_KEY_VERSION)?;
    let policy = as_policy_key(policy, policy_path)?;
    Ok((ServerKeyPair { federation: Arc::new(federation), policy }, [federation_origin, policy_origin]))
}

/// Writes two new keys (`palisade keygen`). Existing files are kept unless `overwrite` is set.
pub fn generate(
    federation_path: &Path,
    policy_path: &Path,
    overwrite: bool,
) -> Result<ServerKeyPair, KeyFilesError> {
    check_distinct(federation_path, policy_path)?;
    for path in [federation_path, policy_path] {
        if path.exists() && !overwrite {
            return Err(KeyFilesError::Exists(path.to_owned()));
        }
    }
    let federation = new_key(&random_key_version(), federation_path)?;
    let policy = new_key(POLICY_SERVER_KEY_VERSION, policy_path)?;
    write_key(federation_path, &federation)?;
    write_key(policy_path, &policy)?;
    Ok(ServerKeyPair { federation: Arc::new(federation), policy })
}

fn check_distinct(federation_path: &Path, policy_path: &Path) -> Result<(), KeyFilesError> {
    let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    if federation_path == policy_path || canonical(federation_path) == canonical(policy_path) {
        return Err(KeyFilesError::SamePath(federation_path.to_owned()));
    }
    Ok(())
}

fn load_or_create(path: &Path, version: &str) -> Result<(SigningKey, KeyOrigin), KeyFilesError> {
    if path.exists() {
        return Ok((load(path)?, KeyOrigin::Loaded));
    }
    let key = new_key(version, path)?;
    write_key(path, &key)?;
    Ok((key, KeyOrigin::Generated))
}

/// Reads the first key of a key file (Synapse, Dendrite or matrix-media-repo format).
pub fn load(path: &Path) -> Result<SigningKey, KeyFilesError> {
    let text =
        fs::read_to_string(path).map_err(|source| KeyFilesError::Io { path: path.to_owned(), source })?;
    let mut keys =
        parse_key_file(&text).map_err(|source| KeyFilesError::Parse { path: path.to_owned(), source })?;
    Ok(keys.remove(0))
}

/// policyserv ignores the version of its event key file; so do we: the policy key always signs as `policy_server`.
fn as_policy_key(key: SigningKey, path: &Path) -> Result<SigningKey, KeyFilesError> {
    key.with_version(POLICY_SERVER_KEY_VERSION)
        .map_err(|source| KeyFilesError::Parse { path: path.to_owned(), source })
}

fn new_key(version: &str, path: &Path) -> Result<SigningKey, KeyFilesError> {
    SigningKey::generate(version).map_err(|source| KeyFilesError::Parse { path: path.to_owned(), source })
}

/// Writes a key file readable by its owner only, creating parent directories.
fn write_key(path: &Path, key: &SigningKey) -> Result<(), KeyFilesError> {
    let io_error = |source| KeyFilesError::Io { path: path.to_owned(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_error)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io_error)?;
    file.write_all(key.to_synapse_format().as_bytes()).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_generates_two_distinct_keys_then_reloads_them() {
        let dir = tempfile::tempdir().unwrap();
        let (fed, pol) = (dir.path().join("data/signing.key"), dir.path().join("data/policy.key"));
        let (keys, origins) = load_or_generate(&fed, &pol).unwrap();
        assert_eq!(origins, [KeyOrigin::Generated, KeyOrigin::Generated]);
        assert_ne!(keys.federation.public_key(), keys.policy.public_key());
        assert_eq!(keys.policy.key_id(), "ed25519:policy_server");
        assert!(keys.federation.key_id().starts_with("ed25519:a_"));
        let (again, origins) = load_or_generate(&fed, &pol).unwrap();
        assert_eq!(origins, [KeyOrigin::Loaded, KeyOrigin::Loaded]);
        assert_eq!(again.federation.public_key(), keys.federation.public_key());
        assert_eq!(again.policy.public_key(), keys.policy.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&pol).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn one_file_for_both_roles_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        assert!(matches!(load_or_generate(&path, &path), Err(KeyFilesError::SamePath(_))));
        let dotted = dir.path().join(".").join("signing.key");
        fs::write(&path, "").unwrap();
        assert!(matches!(generate(&path, &dotted, true), Err(KeyFilesError::SamePath(_))));
    }

    #[test]
    fn keygen_keeps_existing_keys_unless_told() {
        let dir = tempfile::tempdir().unwrap();
        let (fed, pol) = (dir.path().join("signing.key"), dir.path().join("policy.key"));
        let first = generate(&fed, &pol, false).unwrap();
        assert!(matches!(generate(&fed, &pol, false), Err(KeyFilesError::Exists(_))));
        let second = generate(&fed, &pol, true).unwrap();
        assert_ne!(first.policy.public_key(), second.policy.public_key());
        assert_eq!(load(&pol).unwrap().public_key(), second.policy.public_key());
    }

    #[test]
    fn policyserv_mmr_event_key_is_read_as_the_policy_key() {
        let dir = tempfile::tempdir().unwrap();
        let (fed, pol) = (dir.path().join("signing.key"), dir.path().join("event_signing.key"));
        let seed = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";
        fs::write(&pol, format!("-----BEGIN MMR PRIVATE KEY-----\nKey-ID: ed25519:abc\nVersion: 1\n\n{seed}\n-----END MMR PRIVATE KEY-----\n")).unwrap();
        let (keys, origins) = load_or_generate(&fed, &pol).unwrap();
        assert_eq!(origins, [KeyOrigin::Generated, KeyOrigin::Loaded]);
        assert_eq!(keys.policy.key_id(), "ed25519:policy_server");
        assert_eq!(keys.policy.public_key_base64(), "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI");
        fs::write(&pol, "garbage").unwrap();
        let error = load_or_generate(&fed, &pol).unwrap_err().to_string();
        assert!(error.contains("event_signing.key") && error.contains("line 1"), "{error}");
    }
}
