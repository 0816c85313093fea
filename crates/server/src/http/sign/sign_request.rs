//! A `/sign` request: an X-Matrix authenticated request whose body is first looked up among the bodies asked
//! about lately ([`RecentBodies`]). A body seen before is not parsed for its signature check: its canonical JSON
//! is kept.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
};
use palisade_matrix::canonical_json;

use crate::{
    http::{
        AppState, MatrixError,
        federation::auth::{FederationRequest, Received, parse_content},
    },
    sign::{RecentBodies, RecentBody},
};

/// An authenticated `/sign` request and what is known of its body (`None` for a body not asked about before).
#[derive(Debug)]
pub(in crate::http) struct SignRequest {
    pub(in crate::http) request: FederationRequest,
    pub(in crate::http) body: Option<Arc<RecentBody>>,
}

impl FromRequest<AppState> for SignRequest {
    type Rejection = MatrixError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, MatrixError> {
        let received = Received::read(request).await?;
        if received.body.is_empty() {
            return Ok(Self { request: received.authenticate(state, None, None).await?, body: None });
        }
        let recent = state.evaluator.recent_bodies();
        let hash = RecentBodies::hash(&received.body);
        if let Some(body) = recent.get(&hash) {
            let request = received.authenticate(state, Some(body.canonical()), None).await?;
            return Ok(Self { request, body: Some(body) });
        }
        let content = parse_content(&received.body)?;
        let canonical =
            content.as_ref().map(|content| Bytes::from(canonical_json::to_canonical_bytes(content)));
        let request = received.authenticate(state, canonical.as_deref(), content).await?;
        // Noted only once authenticated: no one fills this memory with bodies they could not have sent.
        Ok(Self { request, body: canonical.and_then(|canonical| recent.note(hash, canonical)) })
    }
}
