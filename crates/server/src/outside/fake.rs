//! A small local HTTP server standing in for an outside service in tests: it records every request and answers
//! through a closure (status, body, optional delay).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::response::Response;

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) authorization: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// What the fake answers.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) delay: Duration,
}

impl Reply {
    pub(crate) fn json(value: serde_json::Value) -> Self {
        Self { status: 200, body: value.to_string().into_bytes(), delay: Duration::ZERO }
    }

    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            body: b"{\"errcode\":\"M_UNKNOWN\",\"error\":\"boom\"}".to_vec(),
            delay: Duration::ZERO,
        }
    }

    pub(crate) fn bytes(body: Vec<u8>) -> Self {
        Self { status: 200, body, delay: Duration::ZERO }
    }

    pub(crate) fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Answer = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// A running fake.
pub(crate) struct FakeService {
    pub(crate) address: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeService {
    /// Starts a fake on 127.0.0.1 answering with `answer`.
    pub(crate) async fn start(answer: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let answer: Arc<Answer> = Arc::new(answer);
        let log = requests.clone();
        let app = axum::Router::new().fallback(move |request: Request| {
            let (log, answer) = (log.clone(), answer.clone());
            async move {
                let (parts, body) = request.into_parts();
                let header = |name: ::http::header::HeaderName| {
                    parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
                };
                let recorded = Recorded {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().unwrap_or_default().to_owned(),
                    authorization: header(::http::header::AUTHORIZATION),
                    content_type: header(::http::header::CONTENT_TYPE),
                    body: to_bytes(body, 64 << 20).await.map(|b| b.to_vec()).unwrap_or_default(),
                };
                let reply = answer(&recorded);
                log.lock().unwrap().push(recorded);
                tokio::time::sleep(reply.delay).await;
                Response::builder().status(reply.status).body(Body::from(reply.body)).unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { address, requests }
    }

    /// `http://127.0.0.1:<port>` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Every request so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}
