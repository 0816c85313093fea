//! What a federation request came to, as data rather than a string error.

use std::time::Instant;

/// The result of one federation request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    /// A 2xx response with a body of the expected shape.
    Ok(T),
    /// The remote server answered with an error status. A body that is not a Matrix error is reported with
    /// `errcode` `M_UNKNOWN` and a description, so callers handle one shape.
    MatrixError {
        /// The HTTP status.
        status: u16,
        /// The Matrix error code, e.g. `M_FORBIDDEN`.
        errcode: String,
        /// The human-readable message.
        error: String,
    },
    /// No answer: discovery failed, or connecting, TLS, sending or reading timed out or failed.
    Unreachable(String),
    /// The network policy refused every address of the destination; nothing was connected to.
    Denied(String),
    /// The destination failed recently and is in backoff until this instant; nothing was sent.
    BackingOff {
        /// When requests will be attempted again.
        until: Instant,
    },
    /// The server answered 2xx with a body that is too large, not JSON, or not of the expected shape.
    InvalidResponse(String),
    /// The request could not be made as asked (a body that is not JSON, a path that makes no URL); nothing was sent.
    InvalidRequest(String),
}

impl<T> Outcome<T> {
    /// The success value, if any.
    pub fn ok(self) -> Option<T> {
        match self {
            Self::Ok(value) => Some(value),
            _ => None,
        }
    }

    /// Whether this is a success.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok(_))
    }

    /// Converts the success value, keeping every failure as it is.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        self.and_then(|value| Outcome::Ok(f(value)))
    }

    /// Chains a step that may itself fail.
    pub fn and_then<U>(self, f: impl FnOnce(T) -> Outcome<U>) -> Outcome<U> {
        match self {
            Self::Ok(value) => f(value),
            Self::MatrixError { status, errcode, error } => Outcome::MatrixError { status, errcode, error },
            Self::Unreachable(reason) => Outcome::Unreachable(reason),
            Self::Denied(reason) => Outcome::Denied(reason),
            Self::BackingOff { until } => Outcome::BackingOff { until },
            Self::InvalidResponse(reason) => Outcome::InvalidResponse(reason),
            Self::InvalidRequest(reason) => Outcome::InvalidRequest(reason),
        }
    }

    /// The success value, or the failure's description.
    pub fn into_result(self) -> Result<T, String> {
        match self {
            Self::Ok(value) => Ok(value),
            failure => Err(failure.failure_reason().unwrap_or_default()),
        }
    }

    /// A one-line description of a failure, for logs and aggregated errors; `None` on success.
    pub fn failure_reason(&self) -> Option<String> {
        match self {
            Self::Ok(_) => None,
            Self::MatrixError { status, errcode, error } => Some(format!("{status} {errcode}: {error}")),
            Self::Unreachable(reason) => Some(format!("unreachable: {reason}")),
            Self::Denied(reason) => Some(format!("denied: {reason}")),
            Self::BackingOff { until } => {
                Some(format!("backing off for {:?}", until.saturating_duration_since(Instant::now())))
            }
            Self::InvalidResponse(reason) => Some(format!("invalid response: {reason}")),
            Self::InvalidRequest(reason) => Some(format!("invalid request: {reason}")),
        }
    }
}

/// The body of a Matrix error response.
#[derive(serde::Deserialize)]
struct ErrorBody {
    errcode: String,
    #[serde(default)]
    error: String,
}

/// The outcome of a non-2xx response.
pub(crate) fn error_outcome<T>(status: u16, body: &[u8]) -> Outcome<T> {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { errcode, error }) => Outcome::MatrixError { status, errcode, error },
        Err(_) => Outcome::MatrixError {
            status,
            errcode: "M_UNKNOWN".to_owned(),
            error: format!("HTTP {status} without a Matrix error body"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_matrix_errors() {
        let outcome: Outcome<()> = error_outcome(403, br#"{"errcode":"M_FORBIDDEN","error":"no"}"#);
        assert_eq!(
            outcome,
            Outcome::MatrixError { status: 403, errcode: "M_FORBIDDEN".into(), error: "no".into() }
        );
        let outcome: Outcome<()> = error_outcome(502, b"<html>bad gateway</html>");
        assert!(
            matches!(outcome, Outcome::MatrixError { status: 502, ref errcode, .. } if errcode == "M_UNKNOWN")
        );
    }

    #[test]
    fn map_keeps_failures() {
        let failed: Outcome<u8> = Outcome::Denied("x".into());
        assert_eq!(failed.map(|v| v + 1), Outcome::Denied("x".into()));
        assert_eq!(Outcome::Ok(1u8).map(|v| v + 1), Outcome::Ok(2));
        assert!(Outcome::Ok(1u8).failure_reason().is_none());
    }
}
