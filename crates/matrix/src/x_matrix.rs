//! `Authorization: X-Matrix` for server-server requests: parse, build, sign and verify.
//!
//! The signed object is `{"method", "uri", "origin", "destination", "content"?}` where `uri` is the request target
//! exactly as received (path and query, not percent-decoded) and `content` the parsed JSON body.

use ruma::{
    OwnedServerName, OwnedServerSigningKeyId, ServerName,
    serde::{Base64, base64::Standard},
};

mod auth_params;

use crate::{
    SigningKey,
    canonical_json::{self, CanonicalJsonValue},
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
    /// Parses an `Authorization` header value: the `X-Matrix` scheme, then `origin`, `key` and `sig` (each once)
    /// and optionally `destination`, in any order and case; other parameters are ignored.
    pub fn parse(header: &str) -> Result<Self, XMatrixError> {
        let header = header.trim_start();
        let scheme =
            header.get(..8).filter(|s| s.eq_ignore_ascii_case("X-Matrix")).ok_or(XMatrixError::Missing)?;
        let list = &header[scheme.len()..];
        if !list.is_empty() && !list.starts_with(' ') {
            return Err(malformed("the scheme is not followed by a space"));
        }
        let (mut origin, mut destination, mut key_id, mut signature) = (None, None, None, None);
        for (name, value) in auth_params::parse(list).map_err(XMatrixError::Malformed)? {
            let value = value.into_owned();
            let is = |expected: &str| name.eq_ignore_ascii_case(expected);
            if is("origin") {
                set_once(&mut origin, name, OwnedServerName::try_from(value).map_err(|e| e.to_string()))?;
            } else if is("destination") {
                set_once(
                    &mut destination,
                    name,
                    OwnedServerName::try_from(value).map_err(|e| e.to_string()),
                )?;
            } else if is("key") {
                let key = OwnedServerSigningKeyId::try_from(value).map(|key| key.to_string());
                set_once(&mut key_id, name, key.map_err(|e| e.to_string()))?;
            } else if is("sig") {
                let sig = Base64::<Standard>::parse(value).map(Base64::into_inner);
                set_once(&mut signature, name, sig.map_err(|e| e.to_string()))?;
            }
        }
        let missing = |name: &str| malformed(&format!("parameter {name} is missing"));
        Ok(Self {
            origin: origin.ok_or_else(|| missing("origin"))?,
            destination,
            key_id: key_id.ok_or_else(|| missing("key"))?,
            signature: signature.ok_or_else(|| missing("sig"))?,
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
        let content = parse_body(request.body)?;
        let canonical = content.as_ref().map(canonical_json::to_canonical_bytes);
        let message = self.signing_input(request.method, request.uri, canonical.as_deref(), our_name)?;
        if !verifying_keys::verify(public_key, &message, &self.signature) {
            return Err(XMatrixError::BadSignature);
        }
        Ok(content)
    }

    /// Everything [`verify`](Self::verify) does but parsing the body and the signature check itself: the
    /// destination and key algorithm are checked and the bytes the signature must cover are built, for a caller
    /// that has the body's canonical JSON already (`content`, as [`canonical_json::to_canonical_bytes`] writes it)
    /// and verifies the signature together with others.
    pub fn signing_input(
        &self,
        method: &str,
        uri: &str,
        content: Option<&[u8]>,
        our_name: &ServerName,
    ) -> Result<Vec<u8>, XMatrixError> {
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
        Ok(request_signing_bytes(method, uri, &self.origin, our_name, content))
    }
}

/// Keeps the value of a parameter that may appear once.
fn set_once<T>(slot: &mut Option<T>, name: &str, value: Result<T, String>) -> Result<(), XMatrixError> {
    if slot.is_some() {
        return Err(malformed(&format!("parameter {name} appears twice")));
    }
    *slot = Some(value.map_err(|e| malformed(&format!("parameter {name}: {e}")))?);
    Ok(())
}

fn malformed(reason: &str) -> XMatrixError {
    XMatrixError::Malformed(reason.to_owned())
}

/// Signs an outgoing request as `origin` for `destination`.
pub fn sign_request(
    request: RequestTarget<'_>,
    origin: &ServerName,
    destination: &ServerName,
    key: &SigningKey,
) -> Result<XMatrixAuth, XMatrixError> {
    let content = parse_body(request.body)?.map(|content| canonical_json::to_canonical_bytes(&content));
    let message = request_signing_bytes(request.method, request.uri, origin, destination, content.as_deref());
    Ok(XMatrixAuth {
        origin: origin.to_owned(),
        destination: Some(destination.to_owned()),
        key_id: key.key_id(),
        signature: key.sign_bytes(&message),
    })
}

/// A request body as its signature covers it: `None` when empty, else JSON that must be canonical-JSON compatible.
pub fn parse_body(body: &[u8]) -> Result<Option<CanonicalJsonValue>, XMatrixError> {
    if body.is_empty() {
        return Ok(None);
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| XMatrixError::BadBody(e.to_string()))?;
    CanonicalJsonValue::try_from(value).map(Some).map_err(|e| XMatrixError::BadBody(e.to_string()))
}

/// The canonical JSON of `{"content"?, "destination", "method", "origin", "uri"}`, written field by field in
/// canonical (sorted) order around `content`, the body's canonical JSON, so the body need not be copied into an
/// object first (nor serialised again for each of its `Authorization` headers).
pub fn request_signing_bytes(
    method: &str,
    uri: &str,
    origin: &ServerName,
    destination: &ServerName,
    content: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + content.map_or(0, <[u8]>::len));
    out.push(b'{');
    if let Some(content) = content {
        out.extend_from_slice(br#""content":"#);
        out.extend_from_slice(content);
        out.push(b',');
    }
    for (name, value) in
        [("destination", destination.as_str()), ("method", method), ("origin", origin.as_str()), ("uri", uri)]
    {
        let _ = serde_json::to_writer(&mut out, name);
        out.push(b':');
        let _ = serde_json::to_writer(&mut out, value);
        out.push(b',');
    }
    out.pop();
    out.push(b'}');
    out
}

/// The canonical JSON string of the request object, for display and debugging.
pub fn request_signing_input(
    request: RequestTarget<'_>,
    origin: &ServerName,
    destination: &ServerName,
) -> Result<String, XMatrixError> {
    let content = parse_body(request.body)?.map(|content| canonical_json::to_canonical_bytes(&content));
    let bytes = request_signing_bytes(request.method, request.uri, origin, destination, content.as_deref());
    // Built from strings and serde_json output only, so always UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::CanonicalObject;

    /// The signing input written field by field is the canonical form of the whole request object.
    #[test]
    fn signing_bytes_are_the_canonical_request_object() {
        let origin: OwnedServerName = "origin.example".try_into().unwrap();
        let destination: OwnedServerName = "policy.example".try_into().unwrap();
        let bodies: [&[u8]; 3] = [
            b"",
            br#"{"z":1,"a":{"\u00e9t\u00e9":"\"quoted\" \n tab\t \u0001","b":[true,null,-9007199254740991]},"emoji":"\ud83d\ude00"}"#,
            br#"{}"#,
        ];
        for body in bodies {
            let content = parse_body(body).unwrap();
            let mut object = CanonicalObject::from([
                ("method".to_owned(), CanonicalJsonValue::String("POST".to_owned())),
                ("uri".to_owned(), CanonicalJsonValue::String("/_matrix/policy/v1/sign?x=%20y".to_owned())),
                ("origin".to_owned(), CanonicalJsonValue::String(origin.to_string())),
                ("destination".to_owned(), CanonicalJsonValue::String(destination.to_string())),
            ]);
            if let Some(content) = content.clone() {
                object.insert("content".to_owned(), content);
            }
            let canonical = content.as_ref().map(canonical_json::to_canonical_bytes);
            let written = request_signing_bytes(
                "POST",
                "/_matrix/policy/v1/sign?x=%20y",
                &origin,
                &destination,
                canonical.as_deref(),
            );
            assert_eq!(String::from_utf8(written).unwrap(), canonical_json::to_canonical_string(&object));
        }
    }
}
