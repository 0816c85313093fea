//! OpenAI omni moderation as a [`TextClassifier`]: `POST <api_url>/moderations` with
//! `{"model": "omni-moderation-latest", "input": <text>}` and the API key as a bearer token. The text is flagged
//! when any result is; its categories are those set to `true`.

use std::collections::BTreeMap;

use palisade_policy::handles::{BoxFuture, Classification, StateError, TextClassifier};
use serde::Deserialize;

use super::http::{OutsideError, OutsideHttp, OutsideRequest};

/// The moderation model policyserv uses.
pub const MODEL: &str = "omni-moderation-latest";

/// Moderation answers are small; anything larger is not one.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

const SERVICE: &str = "OpenAI moderation";

/// The client.
pub struct OpenAiClassifier {
    http: OutsideHttp,
    url: String,
    api_key: String,
}

impl std::fmt::Debug for OpenAiClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiClassifier").field("url", &self.url).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ModerationResponse {
    results: Vec<ModerationResult>,
}

#[derive(Deserialize)]
struct ModerationResult {
    flagged: bool,
    #[serde(default)]
    categories: BTreeMap<String, Option<bool>>,
}

impl OpenAiClassifier {
    /// A client for the API at `api_url` (e.g. `https://api.openai.com/v1`).
    pub fn new(http: OutsideHttp, api_url: &str, api_key: &str) -> Self {
        let url = format!("{}/moderations", api_url.trim_end_matches('/'));
        Self { http, url, api_key: api_key.to_owned() }
    }

    async fn moderate(&self, text: &str) -> Result<Classification, OutsideError> {
        let body = serde_json::json!({"model": MODEL, "input": text});
        let request = OutsideRequest {
            service: SERVICE,
            method: reqwest::Method::POST,
            url: self.http.checked_url(&self.url)?,
            bearer: Some(&self.api_key),
            body: Some(("application/json".to_owned(), body.to_string().into_bytes())),
            max_response_bytes: MAX_RESPONSE_BYTES,
        };
        let bytes = self.http.send(request).await?;
        let response: ModerationResponse = serde_json::from_slice(&bytes)
            .map_err(|e| OutsideError::BadResponse { service: SERVICE, reason: e.to_string() })?;
        let mut classification = Classification::default();
        for result in response.results.into_iter().filter(|r| r.flagged) {
            classification.flagged = true;
            classification
                .categories
                .extend(result.categories.into_iter().filter(|(_, set)| *set == Some(true)).map(|(c, _)| c));
        }
        Ok(classification)
    }
}

impl TextClassifier for OpenAiClassifier {
    fn classify<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Classification, StateError>> {
        Box::pin(async move { self.moderate(text).await.map_err(|e| StateError(e.to_string())) })
    }
}
