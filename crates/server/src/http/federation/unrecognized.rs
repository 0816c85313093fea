//! Every `/_matrix/federation/*` path we do not serve: make_join/send_join (we are never a resident server to
//! join through), backfill, state, event, key claims and the rest.
//!
//! A 404 `M_UNRECOGNIZED` is what Synapse treats as "endpoint not implemented", so a joining server that picked
//! us as a `via` moves on to the next server instead of failing hard. The body is always one Matrix error, never
//! empty and never a 500 (catalogue §11.7).

use axum::http::{Method, Uri};
use tracing::debug;

use crate::http::MatrixError;

pub(super) async fn any(method: Method, uri: Uri) -> MatrixError {
    // Logged so that interop testing shows what peers ask of us.
    debug!(%method, path = uri.path(), "unserved federation endpoint");
    MatrixError::unrecognized()
}
