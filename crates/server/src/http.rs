//! HTTP routing: which path goes to which endpoint module. Handlers live one per file under `http/`.

use std::sync::Arc;

use axum::{
    Router,
    routing::{MethodRouter, get, post},
};
use palisade_matrix::{OwnedServerName, unstable};
use palisade_store::Store;

use crate::{
    federation_setup::Federation,
    key_files::ServerKeyPair,
    sign::{Evaluator, LoadShedder, RateLimiter},
};

pub mod admin;
pub mod community;
pub mod error;
pub mod federation;
mod health;
pub mod openapi;
mod server_keys;
mod sign;
mod version;
pub mod well_known;

pub use error::MatrixError;

/// What every handler can see: one shared [`Services`], so a request's copy of the state is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

/// The services behind [`AppState`].
#[derive(Clone)]
pub struct Services {
    /// Our server name (also the name we sign policy signatures as).
    pub server_name: OwnedServerName,
    /// The federation and policy keys.
    pub keys: Arc<ServerKeyPair>,
    /// Persistent state: communities, rooms, verdicts, caches.
    pub store: Arc<dyn Store>,
    /// The outbound client and the keyring.
    pub federation: Federation,
    /// Decides and remembers verdicts for `/sign`.
    pub evaluator: Arc<Evaluator>,
    /// Per-origin rate limit of `/sign`.
    pub sign_limiter: Arc<RateLimiter>,
    /// Turns `/sign` requests away with `429` while too many are in progress.
    pub sign_shedder: Arc<LoadShedder>,
    /// Inbound federation: where `/send` PDUs go, and the operator's invite and delegation settings.
    pub inbound: federation::InboundFederation,
    /// Joining and leaving rooms; keeps joined rooms' state live.
    pub rooms: Arc<crate::rooms::Rooms>,
}

impl From<Services> for AppState {
    fn from(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// Replacing a service (as tests do before serving) gives this state its own copy of the services.
impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut Services {
        Arc::make_mut(&mut self.0)
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

/// The federation-facing router (federation API, policy API, well-known documents, health) and the community
/// API, without the admin API.
pub fn router(state: AppState) -> Router {
    router_with_api(state, admin::ApiSettings::default())
}

/// [`router`] plus the operator API (bound when `api.key` is set), configured by `api`.
pub fn router_with_api(state: AppState, api: admin::ApiSettings) -> Router {
    let shed = axum::middleware::from_fn_with_state(state.clone(), sign::shed_load);
    Router::new()
        .route("/_matrix/key/v2/server", only(get(server_keys::get)))
        .route("/_matrix/federation/v1/version", only(get(version::get)))
        .route(unstable::STABLE_WELL_KNOWN_PATH, well_known::policy_server_route(well_known::Shape::Stable))
        .route(unstable::WELL_KNOWN_PATH, well_known::policy_server_route(well_known::Shape::Unstable))
        .route(well_known::SUPPORT_PATH, well_known::support_route(api.support.clone()))
        .route(unstable::STABLE_SIGN_PATH, only(post(sign::stable).route_layer(shed.clone())))
        .route(unstable::SIGN_PATH, only(post(sign::unstable).route_layer(shed.clone())))
        .route(
            &format!("{}{{event_id}}/check", unstable::CHECK_PATH_PREFIX),
            only(post(sign::legacy_check).route_layer(shed)),
        )
        .route("/health", only(get(health::alive)))
        .route("/ready", only(get(health::ready)))
        .merge(federation::routes())
        .merge(admin::routes(&api))
        .merge(community::routes(api))
        .route(openapi::PATH, only(get(openapi::get)))
        .fallback(error::unrecognized)
        .with_state(state)
}

/// A route that answers other methods with a Matrix-shaped 405 instead of an empty body.
fn only(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.fallback(error::method_not_allowed)
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A router with fresh keys and helpers to call it in-process.

    use axum::body::{Body, to_bytes};
    use http::{Request, Response};
    use palisade_federation::{
        FederationClient, FederationConfig, Keyring, KeyringConfig, StaticResolver, StoreKeyCache,
    };
    use palisade_matrix::SigningKey;
    use tower::ServiceExt;

    use super::*;

    /// The fixed keys every test router uses.
    pub(crate) fn keys() -> ServerKeyPair {
        ServerKeyPair {
            federation: Arc::new(SigningKey::from_seed(&[1; 32], "a_test").unwrap()),
            policy: SigningKey::from_seed(&[2; 32], "policy_server").unwrap(),
        }
    }

    /// A state with an in-memory store and a federation client that resolves no names (tests add their own).
    pub(crate) async fn state() -> AppState {
        let server_name: OwnedServerName = "palisade.example.org".try_into().unwrap();
        let keys = keys();
        let store = palisade_store::open("sqlite::memory:").await.unwrap();
        let client = Arc::new(
            FederationClient::new(
                server_name.clone(),
                keys.federation.clone(),
                Arc::new(StaticResolver::new()),
                FederationConfig::default(),
            )
            .unwrap(),
        );
        let cache = Arc::new(StoreKeyCache::new(store.clone()));
        let keyring = Arc::new(Keyring::new(client.clone(), cache, KeyringConfig::default()));
        let evaluator = Arc::new(Evaluator::new(
            palisade_policy::CommunityConfig::default(),
            palisade_policy::InstanceSettings {
                local_user_id: Some("@policyserv:palisade.example.org".to_owned()),
                ..Default::default()
            },
            Vec::new(),
        ));
        let membership = palisade_federation::membership::Membership::new(
            client.clone(),
            keyring.clone(),
            store.clone(),
            keys.federation.clone(),
        );
        let user = "@policyserv:palisade.example.org".try_into().unwrap();
        let rooms = Arc::new(crate::rooms::Rooms::new(membership, store.clone(), user, None));
        AppState::from(Services {
            server_name,
            keys: Arc::new(keys),
            store,
            federation: Federation { client, keyring },
            evaluator,
            sign_limiter: Arc::new(RateLimiter::default()),
            sign_shedder: Arc::default(),
            inbound: federation::InboundFederation {
                pdu_sink: Arc::new(federation::DiscardPdus),
                settings: federation::InboundSettings::default(),
            },
            rooms,
        })
    }

    /// Sends one request; returns the response and its body parsed as JSON (`Null` when empty).
    pub(crate) async fn call(request: Request<Body>) -> (Response<Body>, serde_json::Value) {
        let response = router(state().await).oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, 1 << 20).await.unwrap();
        let json =
            if bytes.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (Response::from_parts(parts, Body::empty()), json)
    }

    pub(crate) fn get(uri: &str) -> Request<Body> {
        Request::get(uri).body(Body::empty()).unwrap()
    }
}
