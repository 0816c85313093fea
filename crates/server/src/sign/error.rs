//! Why `/sign` did not decide, and the Matrix error each case is answered with.

use axum::http::StatusCode;
use palisade_matrix::{CanonicalJsonError, PduError};

use crate::http::MatrixError;

/// A `/sign` request that ends without a verdict. (Clone: every request merged into one evaluation gets its error.)
#[derive(Debug, Clone, thiserror::Error)]
pub enum SignError {
    /// The body is not JSON (`400 M_NOT_JSON`).
    #[error("{0}")]
    NotJson(String),
    /// The PDU is malformed, too large or its content hash does not match (`400 M_BAD_JSON` / `413 M_TOO_LARGE`).
    #[error("{0}")]
    BadPdu(String),
    /// A PDU over the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// We are not in the room (`404 M_NOT_FOUND`).
    #[error("room {0} is not known to this policy server")]
    UnknownRoom(String),
    /// The room's `m.room.policy` does not name us with our current key (`404 M_NOT_FOUND`).
    #[error("this room does not use this policy server")]
    NotProtected,
    /// The caller is denied by the room's server ACL (`403 M_FORBIDDEN`).
    #[error("{0} is denied by the room's server ACL")]
    DeniedByAcl(String),
    /// The event's own signatures do not verify (`400 M_FORBIDDEN`, so it is never signed).
    #[error("event signatures do not verify: {0}")]
    BadSignature(String),
    /// Storage or filter failure (`500 M_UNKNOWN`); nothing is signed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<CanonicalJsonError> for SignError {
    fn from(error: CanonicalJsonError) -> Self {
        match error {
            CanonicalJsonError::NotJson(_) => Self::NotJson(error.to_string()),
            CanonicalJsonError::NotCanonical(_) => Self::BadPdu(error.to_string()),
        }
    }
}

impl From<PduError> for SignError {
    fn from(error: PduError) -> Self {
        match error {
            PduError::NotJson(_) => Self::NotJson(error.to_string()),
            PduError::TooLarge(_) => Self::TooLarge(error.to_string()),
            _ => Self::BadPdu(error.to_string()),
        }
    }
}

impl From<palisade_store::StoreError> for SignError {
    fn from(error: palisade_store::StoreError) -> Self {
        Self::Internal(error.to_string())
    }
}

impl SignError {
    /// The Matrix error answered for this case.
    pub fn to_matrix_error(&self) -> MatrixError {
        let (status, errcode) = match self {
            Self::NotJson(_) => (StatusCode::BAD_REQUEST, "M_NOT_JSON"),
            Self::BadPdu(_) => (StatusCode::BAD_REQUEST, "M_BAD_JSON"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE"),
            Self::UnknownRoom(_) | Self::NotProtected => (StatusCode::NOT_FOUND, "M_NOT_FOUND"),
            Self::DeniedByAcl(_) => (StatusCode::FORBIDDEN, "M_FORBIDDEN"),
            Self::BadSignature(_) => (StatusCode::BAD_REQUEST, "M_FORBIDDEN"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN"),
        };
        // Internal details stay in our logs.
        let message = match self {
            Self::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        MatrixError::new(status, errcode, message)
    }
}
