//! Builds the outbound federation client and the keyring from the instance configuration.

use std::sync::Arc;

use palisade_federation::{
    FederationClient, FederationConfig, HickoryResolver, Keyring, KeyringConfig, NetworkPolicy, NotaryServer,
    StoreKeyCache,
};
use palisade_matrix::{OwnedServerName, SigningKey, keys::lenient_base64};
use palisade_store::Store;

use crate::config::Config;

/// The outbound side of federation.
#[derive(Debug, Clone)]
pub struct Federation {
    /// Signed requests to other servers.
    pub client: Arc<FederationClient>,
    /// Other servers' signing keys, cached in the store.
    pub keyring: Arc<Keyring>,
}

/// Why the federation client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("federation setup: {0}")]
pub struct FederationSetupError(String);

/// Builds the client (SSRF guard from `federation.allowed_networks`/`denied_networks`) and the keyring (direct
/// fetching and/or the configured notary, cached in `store`).
pub fn build(
    config: &Config,
    server_name: &OwnedServerName,
    key: Arc<SigningKey>,
    store: Arc<dyn Store>,
) -> Result<Federation, FederationSetupError> {
    let error = |e: &dyn std::fmt::Display| FederationSetupError(e.to_string());
    let federation = &config.federation;
    let network_policy = NetworkPolicy::from_cidrs(
        federation.allowed_networks.iter().map(ToString::to_string),
        federation.denied_networks.iter().map(ToString::to_string),
    )
    .map_err(|e| error(&e))?;
    let resolver = Arc::new(HickoryResolver::from_system_config().map_err(|e| error(&e))?);
    let client_config = FederationConfig {
        network_policy,
        extra_ca_files: federation.extra_ca_files.clone(),
        ..FederationConfig::default()
    };
    let client = Arc::new(
        FederationClient::new(server_name.clone(), key, resolver, client_config).map_err(|e| error(&e))?,
    );
    let notaries = federation.key_query_server.iter().map(notary).collect::<Result<Vec<_>, _>>()?;
    let keyring_config = KeyringConfig { direct: federation.direct_key_fetching, notaries };
    let keyring = Arc::new(Keyring::new(client.clone(), Arc::new(StoreKeyCache::new(store)), keyring_config));
    Ok(Federation { client, keyring })
}

fn notary(setting: &crate::config::NotaryServer) -> Result<NotaryServer, FederationSetupError> {
    let public_key =
        lenient_base64::decode(&setting.public_key).ok().and_then(|bytes| bytes.try_into().ok()).ok_or_else(
            || FederationSetupError(format!("notary key of {} is not 32 bytes", setting.server_name)),
        )?;
    Ok(NotaryServer {
        server_name: setting.server_name.to_string(),
        key_id: setting.key_id.clone(),
        public_key,
    })
}
