//! Reading a response body with a size cap, so a hostile server cannot make us buffer without bound.

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The body is larger than allowed.
    #[error("response body exceeds {0} bytes")]
    TooLarge(usize),
    /// The connection failed while reading.
    #[error("reading response body failed: {0}")]
    Read(String),
}

/// Reads the whole body, failing as soon as it exceeds `max_bytes`.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    max_bytes: usize,
) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|length| length > max_bytes as u64) {
        return Err(BodyError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| BodyError::Read(super::describe_error(&e)))? {
        if body.len() + chunk.len() > max_bytes {
            return Err(BodyError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
