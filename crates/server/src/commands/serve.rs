//! `palisade serve`: load the configuration, keys and store, then answer federation and policy requests until
//! told to stop.

use std::sync::Arc;

use palisade_matrix::{OwnedServerName, RoomPolicy};
use palisade_policy::InstanceSettings;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::{
    config::{Config, Loaded},
    connection_threads::ConnectionThreads,
    federation_setup::{self, FederationSetupError},
    http::{self, AppState, Services, federation::InboundFederation},
    key_files::{self, KeyOrigin},
    metrics::{self, Metrics},
    rooms::Rooms,
    sign::{Evaluator, RateLimiter},
    tls::{self, TlsConfigError},
};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A key file problem.
    #[error(transparent)]
    Keys(#[from] key_files::KeyFilesError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] palisade_store::StoreError),
    /// The outbound federation client could not be built.
    #[error(transparent)]
    Federation(#[from] FederationSetupError),
    /// The configured server name is not a Matrix server name.
    #[error("server_name {0:?} is not a valid Matrix server name")]
    ServerName(String),
    /// Our user ID could not be formed.
    #[error("policy server user: {0}")]
    User(String),
    /// The outside-service clients (OpenAI, HMA, Muninn Hall) could not be built.
    #[error(transparent)]
    Outside(#[from] crate::outside::OutsideSetupError),
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
    /// The metrics registry could not be built.
    #[error("metrics: {0}")]
    Metrics(prometheus::Error),
    /// The listener could not be bound or failed.
    #[error("HTTP listener {address}: {source}")]
    Listen {
        /// The configured address.
        address: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(loaded: Loaded) -> Result<(), ServeError> {
    let Loaded { config, warnings } = loaded;
    for warning in &warnings {
        warn!("config: {warning}");
    }
    let server_name: OwnedServerName = config
        .server_name
        .as_str()
        .try_into()
        .map_err(|_| ServeError::ServerName(config.server_name.to_string()))?;
    let (keys, origins) = key_files::load_or_generate(&config.keys.federation, &config.keys.policy)?;
    for (origin, path) in origins.iter().zip([&config.keys.federation, &config.keys.policy]) {
        if *origin == KeyOrigin::Generated {
            info!(path = %path.display(), "generated a new signing key");
        }
    }
    // A read replica serves lag-tolerant reads on PostgreSQL (validation warns that SQLite ignores it).
    let read_url = config
        .database
        .read_url
        .as_ref()
        .filter(|_| config.database.url.backend() == crate::config::DatabaseBackend::Postgres)
        .map(|url| url.expose());
    let store = palisade_store::open_with_replica(config.database.url.expose(), read_url).await?;
    info!(database = %config.database.url.masked(), backend = ?store.backend(), "database ready");
    print_room_policy(&server_name, &keys.policy.public_key());

    let federation = federation_setup::build(&config, &server_name, keys.federation.clone(), store.clone())?;
    let outside = crate::outside::start(&config, store.clone(), federation.client.clone()).await?;
    // New verdicts are written in group commits: durable before `/sign` answers, one fsync per batch.
    let writer = palisade_store::VerdictWriter::spawn(store.clone(), palisade_store::GroupCommit::default());
    let (webhooks, moderators) = start_side_effects(&config, store.clone())?;
    // Queued EDUs (the signed redact commands to moderation bots) go out over federation, retried with backoff.
    drop(
        palisade_federation::EduSender::new(federation.client.clone(), store.clone(), Default::default())
            .spawn(),
    );
    let mut evaluator = evaluator(&config, &server_name)
        .with_outside(outside)
        .with_verdict_writer(writer)
        .with_webhooks(webhooks);
    if let Some(moderators) = moderators {
        evaluator = evaluator.with_moderators(moderators);
    }
    let evaluator = Arc::new(evaluator);
    if let Some(retention) = crate::retention::Retention::from_days(config.database.retention_days) {
        crate::retention::spawn(store.clone(), retention);
    }
    let rooms = Arc::new(
        Rooms::from_config(&config, &server_name, &federation, keys.federation.clone(), store.clone())
            .map_err(ServeError::User)?,
    );
    // Accepted `/send` PDUs keep the joined rooms' state snapshots live.
    let inbound = InboundFederation::from_config(&config, rooms.clone());
    let sign_limiter = Arc::new(RateLimiter::default());
    let sign_shedder = Arc::default();
    let state = AppState::from(Services {
        server_name,
        keys: Arc::new(keys),
        store,
        federation,
        evaluator,
        sign_limiter,
        sign_shedder,
        inbound,
        rooms: rooms.clone(),
    });
    let address = config.listen.http.addr();
    let listen_error = |source| ServeError::Listen { address: address.to_string(), source };
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let listener = ConnectionThreads::bind(address, threads).map_err(listen_error)?;
    // The address bound, not the one configured: with port 0 the kernel picks the port (tests do this).
    let address = listener.local_addr().map_err(listen_error)?;
    let metrics = Metrics::new().map_err(ServeError::Metrics)?;
    serve_metrics(&config, metrics.clone()).await?;
    // Joins of the configured rooms run in the background (with retries) so a slow or absent resident server
    // never delays start-up; their outcome is logged.
    rooms.spawn_startup_joins(config.join_room_ids.iter().filter_map(|room_id| {
        let parsed = palisade_matrix::OwnedRoomId::try_from(room_id.as_str());
        if parsed.is_err() {
            warn!(room_id = room_id.as_str(), "join_room_ids: not a room ID; skipped");
        }
        parsed.ok()
    }));
    let api = http::admin::ApiSettings::from_config(&config);
    let router = http::router_with_api(state, api)
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::track));
    let tls = match (&config.listen.tls_certificate, &config.listen.tls_private_key) {
        (Some(certificate), Some(private_key)) => Some(tls::load_server_config(certificate, private_key)?),
        // Validation refuses one file without the other, so this is plain HTTP behind a proxy.
        _ => None,
    };
    let scheme = if tls.is_some() { "HTTPS" } else { "plain HTTP" };
    info!(%address, threads, "listening ({scheme}) for federation and policy requests");
    listener.serve(router, tls, shutdown_signal()).await.map_err(listen_error)
}

/// Starts the outbox workers for refusals' side effects, SSRF-guarded like every outside service with 30 s per
/// attempt: webhooks, and legacy redactions when moderator access tokens are configured. Returns what queues them.
fn start_side_effects(
    config: &Config,
    store: Arc<dyn palisade_store::Store>,
) -> Result<(crate::notify::WebhookNotifier, Option<crate::notify::ModeratorRedactor>), ServeError> {
    use crate::outside::OutsideSetupError;
    let guard = Arc::new(crate::outside::address_guard(config)?);
    let resolver = palisade_federation::HickoryResolver::from_system_config()
        .map_err(|e| OutsideSetupError::Client(e.to_string()))?;
    let http =
        crate::outside::OutsideHttp::new(guard, Arc::new(resolver), std::time::Duration::from_secs(30))
            .map_err(OutsideSetupError::Client)?;
    let settings = crate::notify::WebhookSettings {
        allowed_domains: config.webhooks.allowed_domains.iter().map(|d| d.as_str().to_owned()).collect(),
        allow_plain_http: false,
    };
    let retry = crate::notify::WebhookRetry::default();
    drop(crate::notify::spawn_worker(store.clone(), http.clone(), settings.clone(), retry));
    let moderators = crate::notify::ModeratorRedactor::new(
        config.moderation.access_tokens.iter().map(|(host, token)| (host.as_str(), token.expose())),
    );
    let moderators = moderators.is_configured().then(|| {
        drop(crate::notify::moderator::spawn_worker(store, http, moderators.clone(), retry));
        moderators
    });
    Ok((crate::notify::WebhookNotifier::new(settings), moderators))
}

/// Serves `/metrics` on its own listener, so it can stay private while federation is public.
async fn serve_metrics(config: &Config, metrics: Arc<Metrics>) -> Result<(), ServeError> {
    let address = config.listen.metrics.addr();
    let listen_error = |source| ServeError::Listen { address: address.to_string(), source };
    let listener = TcpListener::bind(address).await.map_err(listen_error)?;
    let address = listener.local_addr().map_err(listen_error)?;
    info!(%address, "listening (plain HTTP) for metrics");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, metrics::router(metrics)).await {
            warn!(%error, "metrics listener stopped");
        }
    });
    Ok(())
}

/// The instance-wide inputs of every verdict.
fn evaluator(config: &Config, server_name: &OwnedServerName) -> Evaluator {
    let settings = InstanceSettings {
        local_user_id: Some(format!("@{}:{server_name}", config.federation.join_localpart)),
        classifier_room_ids: config.openai.allowed_room_ids.iter().map(ToString::to_string).collect(),
        keyword_templates: Default::default(),
    };
    let lists = config.moderation.policy_list_room_ids.iter().map(ToString::to_string).collect();
    Evaluator::new(config.community_defaults.clone(), settings, lists)
}

/// Tells the operator what to put into a room to protect it.
fn print_room_policy(server_name: &OwnedServerName, policy_key: &[u8; 32]) {
    let policy = RoomPolicy::new(server_name, *policy_key);
    println!("To protect a room, send an m.room.policy state event (state key \"\") with this content:");
    println!("{}", policy.stable_content());
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    info!("shutting down");
}
