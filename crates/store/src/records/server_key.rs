//! A cached federation signing key of a remote server.

/// A remote server's signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKey {
    /// Server name.
    pub server_name: String,
    /// Key ID (`ed25519:abc`).
    pub key_id: String,
    /// Public key, unpadded base64 as published.
    pub public_key: String,
    /// `valid_until_ts` of the response the key came from (ms).
    pub valid_until_ts: i64,
    /// For an old key, when it stopped being used (ms); `None` for a current key.
    pub expired_ts: Option<i64>,
}
