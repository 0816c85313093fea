//! `Authorization: X-Matrix` for server-server requests: parse, build, sign and verify.
//!
//! The signed object is `{"method", "uri", "origin", "destination", "content"?}` where `uri` is the request target
//! exactly as received (path and query, not percent-decoded) and `content` the parsed JSON body.

use ruma::{OwnedServerName, ServerName, api::federation::authentication::XMatrix};

use crate::{
    CanonicalObject, SigningKey,
    canonical_json::{self, CanonicalJsonValue, to_canonical_string},
    keys::lenient_base64,
    verifying_keys,
};

/// The parsed credentials of an X-Matrix `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XMatrixAuth {
    /// The requesting server.
    pub origin: OwnedServerName,
    /// The server the request was meant for; optional for older senders.
    pub destination: Option<OwnedServerName>,
    /// The key ID the origin signed with, e.g. `ed25519:a_RXGa`.
    pub key_id: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

/// Why a request's X-Matrix credentials were refused. All of these are `401 M_UNAUTHORIZED`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XMatrixError {
    /// No `Authorization` header, or not the X-Matrix scheme.
    #[error("missing X-Matrix Authorization header")]
    Missing,
    /// The header could not be parsed.
    #[error("malformed X-Matrix Authorization header: {0}")]
    Malformed(String),
    /// The request was addressed to another server.
    #[error("X-Matrix destination {found} is not this server ({expected})")]
    WrongDestination {
        /// The destination in the header.
        found: String,
        /// Our server name.
        expected: String,
    },
    /// The body is not JSON, so the request cannot be verified.
    #[error("request body is not canonical JSON: {0}")]
    BadBody(String),
    /// The signature does not verify with the origin's key.
    #[error("X-Matrix signature does not verify")]
    BadSignature,
}

/// One request to sign or verify.
#[derive(Clone, Copy, Debug)]
pub struct RequestTarget<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// Path and query exactly as sent on the wire.
    pub uri: &'a str,
    /// The JSON body, if any (empty means none).
    pub body: &'a [u8],
}

impl XMatrixAuth {
    /// Parses an `Authorization` header value.
    pub fn parse(header: &str) -> Result<Self, XMatrixError> {
        if !header.trim_start().get(..8).is_some_and(|s| s.eq_ignore_ascii_case("X-Matrix")) {
            return Err(XMatrixError::Missing);
        }
        let parsed = XMatrix::parse(header).map_err(|e| XMatrixError::Malformed(e.to_string()))?;
        Ok(Self {
            origin: parsed.origin,
            destination: parsed.destination,
            key_id: parsed.key.to_string(),
            signature: parsed.sig.as_bytes().to_vec(),
        })
    }

    /// The header value, `X-Matrix origin="…",destination="…",key="…",sig="…"`.
    pub fn to_header_value(&self) -> String {
        let destination =
            self.destination.as_ref().map(|d| format!("destination=\"{d}\",")).unwrap_or_default();
        format!(
            "X-Matrix origin=\"{}\",{destination}key=\"{}\",sig=\"{}\"",
            self.origin,
            self.key_id,
            lenient_base64::encode(&self.signature)
        )
    }

    /// Checks the destination and signature of a received request with the origin's key `public_key`.
    ///
    /// A header without `destination` is accepted (older servers omit it) and verified with our name. Returns the
    /// body as parsed for the check (`None` when empty).
    pub fn verify(
        &self,
        request: RequestTarget<'_>,
        our_name: &ServerName,
        public_key: &[u8; 32],
    ) -> Result<Option<CanonicalJsonValue>, XMatrixError> {
        let signed = self.signed_request(request, our_name)?;
        if !verifying_keys::verify(public_key, &signed.message, &self.signature) {
            return Err(XMatrixError::BadSignature);
        }
        Ok(signed.content)
    }

    /// Everything [`verify`](Self::verify) does but the signature check itself: the destination and key algorithm
    /// are checked and the bytes the signature must cover are built, for a caller that verifies the signature
    /// together with others.
    pub fn signed_request(
        &self,
        request: RequestTarget<'_>,
        our_name: &ServerName,
    ) -> Result<SignedRequest, XMatrixError> {
        if let Some(destination) = &self.destination
            && destination != our_name
        {
            return Err(XMatrixError::WrongDestination {
                found: destination.to_string(),
                expected: our_name.to_string(),
            });
        }
        // Only ed25519 keys sign requests (a key of another algorithm cannot be checked, so it proves nothing).
        if !self.key_id.starts_with("ed25519:") {
            return Err(XMatrixError::BadSignature);
        }
        let mut object = request_object(request, &self.origin, our_name)?;
        let message = to_canonical_string(&object).into_bytes();
        // The body had to be parsed for the check; the caller need not parse it again.
        Ok(SignedRequest { message, content: object.remove("content") })
    }
}

/// A received request as its X-Matrix signature covers it.
#[derive(Debug)]
pub struct SignedRequest {
    /// The canonical JSON the signature must cover.
    pub message: Vec<u8>,
    /// The body as parsed to build it (`None` when empty).
    pub content: Option<CanonicalJsonValue>,
}

/// Signs an outgoing request as `origin` for `destination`.
pub fn sign_request(
    request: RequestTarget<'_>,
    origin: &ServerName,
    destination: &ServerName,
    key: &SigningKey,
) -> Result<XMatrixAuth, XMatrixError> {
    let object = request_object(request, origin, destination)?;
    let signature = key.sign_bytes(to_canonical_string(&object).as_bytes());
    Ok(XMatrixAuth {
        origin: origin.to_owned(),
        destination: Some(destination.to_owned()),
        key_id: key.key_id(),
        signature,
    })
}

/// The JSON object an X-Matrix signature covers.
pub fn request_object(
    request: RequestTarget<'_>,
    origin: &ServerName,
    destination: &ServerName,
) -> Result<CanonicalObject, XMatrixError> {
    let mut object = CanonicalObject::from([
        ("method".to_owned(), CanonicalJsonValue::String(request.method.to_owned())),
        ("uri".to_owned(), CanonicalJsonValue::String(request.uri.to_owned())),
        ("origin".to_owned(), CanonicalJsonValue::String(origin.to_string())),
        ("destination".to_owned(), CanonicalJsonValue::String(destination.to_string())),
    ]);
    if !request.body.is_empty() {
        let value: serde_json::Value =
            serde_json::from_slice(request.body).map_err(|e| XMatrixError::BadBody(e.to_string()))?;
        let content =
            CanonicalJsonValue::try_from(value).map_err(|e| XMatrixError::BadBody(e.to_string()))?;
        object.insert("content".to_owned(), content);
    }
    Ok(object)
}

/// The canonical JSON string of the request object, for display and debugging.
pub fn request_signing_input(
    request: RequestTarget<'_>,
    origin: &ServerName,
    destination: &ServerName,
) -> Result<String, XMatrixError> {
    request_object(request, origin, destination).map(|o| canonical_json::to_canonical_string(&o))
}
