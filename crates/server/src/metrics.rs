//! Prometheus metrics on their own listener.
//!
//! Names follow policyserv where it has an equivalent (`policyserv_http_requests`, no `_total` suffix), so existing
//! dashboards keep working, but without per-room labels: label values come only from bounded sets (route
//! templates, methods, status codes, harm IDs), never from request data.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Instant,
};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

mod sign_internals;

pub(crate) use sign_internals::{StoreOperation, sign_internals, store_took};

/// Latency buckets (seconds) fine enough to tell a 1 ms answer from a 5 ms one.
const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// What a `/sign` handler tells the metrics layer about its answer (a response extension).
#[derive(Clone, Debug)]
pub struct SignNote {
    /// Signed (`true`) or refused.
    pub signed: bool,
    /// The refusal's harm IDs.
    pub harms: Vec<String>,
}

/// Every metric Palisade exports, in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_responses: IntCounterVec,
    request_time: HistogramVec,
    in_flight: IntGauge,
    event_checks: IntCounterVec,
    event_classifications: IntCounterVec,
    /// Each route's request counter and timer, found once instead of by label lookup on every request.
    routes: RwLock<HashMap<Method, HashMap<String, RouteSeries>>>,
}

/// One route's series of `policyserv_http_requests` and `policyserv_request_time_seconds`.
#[derive(Clone, Debug)]
struct RouteSeries {
    requests: IntCounter,
    time: Histogram,
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Result<Arc<Self>, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("policyserv_http_requests", "HTTP requests received, by route template"),
            &["method", "action"],
        )?;
        let http_responses = IntCounterVec::new(
            Opts::new("policyserv_http_responses", "HTTP responses sent, by route template and status"),
            &["method", "action", "status"],
        )?;
        let request_time = HistogramVec::new(
            HistogramOpts::new("policyserv_request_time_seconds", "Time to answer an HTTP request")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "action"],
        )?;
        let in_flight = IntGauge::new("palisade_http_requests_in_flight", "HTTP requests being answered")?;
        let event_checks = IntCounterVec::new(
            Opts::new("policyserv_event_checks", "/sign decisions, by whether the event was signed"),
            &["status", "verdict"],
        )?;
        let event_classifications = IntCounterVec::new(
            Opts::new("policyserv_event_classifications", "Harms of refused events"),
            &["classification"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_responses.clone()))?;
        registry.register(Box::new(request_time.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(event_checks.clone()))?;
        registry.register(Box::new(event_classifications.clone()))?;
        if let Some(internals) = sign_internals() {
            internals.register(&registry)?;
        }
        Ok(Arc::new(Self {
            registry,
            http_requests,
            http_responses,
            request_time,
            in_flight,
            event_checks,
            event_classifications,
            routes: RwLock::default(),
        }))
    }

    /// The series of `method` and route template `action`.
    fn route(&self, method: &Method, action: &str) -> RouteSeries {
        let routes = self.routes.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(series) = routes.get(method).and_then(|by_action| by_action.get(action)) {
            return series.clone();
        }
        drop(routes);
        let series = RouteSeries {
            requests: self.http_requests.with_label_values(&[method.as_str(), action]),
            time: self.request_time.with_label_values(&[method.as_str(), action]),
        };
        let mut routes = self.routes.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        routes.entry(method.clone()).or_default().insert(action.to_owned(), series.clone());
        series
    }

    /// The text exposition format of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec only fails for invalid metric families, which registration already rejected.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    fn record(&self, method: &str, action: &str, status: StatusCode, note: Option<&SignNote>) {
        self.http_responses.with_label_values(&[method, action, status.as_str()]).inc();
        match note {
            Some(note) if note.signed => self.event_checks.with_label_values(&["ok", "signed"]).inc(),
            Some(note) => {
                self.event_checks.with_label_values(&["ok", "refused"]).inc();
                for harm in &note.harms {
                    self.event_classifications.with_label_values(&[harm.as_str()]).inc();
                }
            }
            None if is_sign_action(action) && status.is_server_error() => {
                self.event_checks.with_label_values(&["error", "none"]).inc();
            }
            None => {}
        }
    }
}

fn is_sign_action(action: &str) -> bool {
    action.starts_with("/_matrix/policy/")
}

/// Middleware counting and timing every request of the router it wraps.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // The route template, never the raw path: raw paths carry room and event IDs.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let action = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let route = metrics.route(&method, action);
    route.requests.inc();
    metrics.in_flight.inc();
    let response = next.run(request).await;
    metrics.in_flight.dec();
    route.time.observe(started.elapsed().as_secs_f64());
    metrics.record(method.as_str(), action, response.status(), response.extensions().get::<SignNote>());
    response
}

/// The metrics listener's router: `GET /metrics`.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new().route("/metrics", get(exposition)).with_state(metrics)
}

async fn exposition(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics.render())
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, middleware};
    use http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::http::test_support;

    async fn exposition_after(requests: Vec<Request<Body>>) -> String {
        let metrics = Metrics::new().unwrap();
        let app = crate::http::router(test_support::state().await)
            .layer(middleware::from_fn_with_state(metrics.clone(), track));
        for request in requests {
            app.clone().oneshot(request).await.unwrap();
        }
        let response = router(metrics).oneshot(test_support::get("/metrics")).await.unwrap();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template_never_by_raw_path() {
        let text = exposition_after(vec![
            test_support::get("/_matrix/federation/v1/version"),
            test_support::get("/_matrix/federation/v1/version"),
            test_support::get("/_matrix/federation/v1/user/devices/@secret:example.org"),
            test_support::get("/no/such/path/!room:example.org"),
        ])
        .await;
        assert!(
            text.contains(
                r#"policyserv_http_requests{action="/_matrix/federation/v1/version",method="GET"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"policyserv_http_responses{action="/_matrix/federation/v1/version",method="GET",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"action="unmatched""#), "{text}");
        assert!(
            !text.contains("@secret") && !text.contains("!room"),
            "request data leaked into labels: {text}"
        );
        assert!(text.contains("policyserv_request_time_seconds_bucket"), "{text}");
        assert!(text.contains("palisade_http_requests_in_flight 0"), "{text}");
    }
}
