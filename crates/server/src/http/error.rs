//! Matrix-shaped errors: one JSON body `{"errcode", "error", ...extra}` with the right status, always.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value};

/// An error response in the Matrix format.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixError {
    /// HTTP status.
    pub status: StatusCode,
    /// `M_*` error code.
    pub errcode: &'static str,
    /// Human-readable message.
    pub error: String,
    /// Extra top-level fields (`retry_after_ms`, `harms`, ...), written after `errcode` and `error`.
    pub extra: Map<String, Value>,
}

impl MatrixError {
    /// An error with no extra fields.
    pub fn new(status: StatusCode, errcode: &'static str, error: impl Into<String>) -> Self {
        Self { status, errcode, error: error.into(), extra: Map::new() }
    }

    /// 404 `M_UNRECOGNIZED`.
    pub fn unrecognized() -> Self {
        Self::new(StatusCode::NOT_FOUND, "M_UNRECOGNIZED", "Unrecognized request")
    }

    /// 405 `M_UNRECOGNIZED`.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED", "Method not allowed")
    }

    /// Adds an extra top-level field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// The body, `errcode` and `error` first.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("errcode".to_owned(), Value::from(self.errcode));
        body.insert("error".to_owned(), Value::from(self.error.clone()));
        for (key, value) in &self.extra {
            body.entry(key.clone()).or_insert_with(|| value.clone());
        }
        Value::Object(body)
    }
}

impl IntoResponse for MatrixError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// Fallback for unknown paths.
pub(super) async fn unrecognized() -> MatrixError {
    MatrixError::unrecognized()
}

/// Fallback for known paths called with the wrong method.
pub(super) async fn method_not_allowed() -> MatrixError {
    MatrixError::method_not_allowed()
}

#[cfg(test)]
mod tests {
    use http::Request;

    use super::*;
    use crate::http::test_support::{call, get};

    #[test]
    fn serialises_errcode_then_error_then_extras() {
        let error = MatrixError::new(StatusCode::FORBIDDEN, "M_FORBIDDEN", "Example error message")
            .with("example_field", "example_value")
            .with("errcode", "M_IGNORED");
        assert_eq!(
            serde_json::to_string(&error.body()).unwrap(),
            r#"{"errcode":"M_FORBIDDEN","error":"Example error message","example_field":"example_value"}"#
        );
    }

    #[tokio::test]
    async fn unknown_paths_and_methods_get_one_matrix_body() {
        let (response, body) = call(get("/_matrix/federation/v1/nope")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(body["errcode"], "M_UNRECOGNIZED");
        let request = Request::post("/_matrix/key/v2/server").body(axum::body::Body::empty()).unwrap();
        let (response, body) = call(request).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body, serde_json::json!({"errcode": "M_UNRECOGNIZED", "error": "Method not allowed"}));
    }
}
