//! Downloading media for scanning, two ways:
//!
//! * with `media.access_token` set, as policyserv does: through a homeserver's client-server API,
//!   `GET <media.client_url>/_matrix/client/v1/media/download/{origin}/{mediaId}` with that token;
//! * without it, over federation from the media's origin server (authenticated media,
//!   `GET /_matrix/federation/v1/media/download/{mediaId}`, signed with our key): the answer is `multipart/mixed`
//!   with a JSON metadata part and then either the bytes or a `Location` header to fetch them from. No long-lived
//!   user access token is needed (catalogue §11.18).
//!
//! Unlike policyserv every download has a size cap and goes through the SSRF guard.

use std::sync::Arc;

use palisade_federation::{FederationClient, RequestOptions};
use palisade_matrix::{ServerName, path_segment};
use palisade_policy::mxc::MxcUri;

use super::http::{OutsideError, OutsideHttp, OutsideRequest};

const SERVICE: &str = "media download";
const FEDERATION_SERVICE: &str = "federation media download";

/// The downloader.
pub struct MediaDownloader {
    http: OutsideHttp,
    source: Source,
    max_bytes: usize,
}

enum Source {
    Client { client_url: String, access_token: Option<String> },
    Federation(Arc<FederationClient>),
}

impl std::fmt::Debug for MediaDownloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Client { client_url, .. } => client_url.as_str(),
            Source::Federation(_) => "federation",
        };
        f.debug_struct("MediaDownloader")
            .field("source", &source)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl MediaDownloader {
    /// Downloads from the client-server API at `client_url`, refusing media larger than `max_bytes`.
    pub fn new(http: OutsideHttp, client_url: &str, access_token: Option<String>, max_bytes: usize) -> Self {
        let client_url = client_url.trim_end_matches('/').to_owned();
        Self { http, source: Source::Client { client_url, access_token }, max_bytes }
    }

    /// Downloads over federation from each media's origin server; `http` fetches redirected content.
    pub fn over_federation(http: OutsideHttp, federation: Arc<FederationClient>, max_bytes: usize) -> Self {
        Self { http, source: Source::Federation(federation), max_bytes }
    }

    /// The bytes of `media`.
    pub async fn download(&self, media: &MxcUri) -> Result<Vec<u8>, OutsideError> {
        match &self.source {
            Source::Client { client_url, access_token } => {
                let url = format!(
                    "{client_url}/_matrix/client/v1/media/download/{}/{}",
                    path_segment::encode_keeping_colons(&media.server_name),
                    path_segment::encode_keeping_colons(&media.media_id)
                );
                self.fetch(SERVICE, &url, access_token.as_deref()).await
            }
            Source::Federation(client) => self.download_over_federation(client, media).await,
        }
    }

    async fn fetch(
        &self,
        service: &'static str,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<Vec<u8>, OutsideError> {
        let request = OutsideRequest {
            service,
            method: reqwest::Method::GET,
            url: self.http.checked_url(url)?,
            bearer,
            body: None,
            max_response_bytes: self.max_bytes,
        };
        self.http.send(request).await
    }

    async fn download_over_federation(
        &self,
        client: &FederationClient,
        media: &MxcUri,
    ) -> Result<Vec<u8>, OutsideError> {
        let failed = |reason: String| OutsideError::Transport { service: FEDERATION_SERVICE, reason };
        let origin = <&ServerName>::try_from(media.server_name.as_str())
            .map_err(|_| failed(format!("{:?} is not a server name", media.server_name)))?;
        let path = format!(
            "/_matrix/federation/v1/media/download/{}",
            path_segment::encode_keeping_colons(&media.media_id)
        );
        let body = client
            .request_bytes(::http::Method::GET, origin, &path, None, RequestOptions::default())
            .await
            .into_result()
            .map_err(failed)?;
        if body.len() > self.max_bytes {
            return Err(OutsideError::TooLarge { service: FEDERATION_SERVICE, max: self.max_bytes });
        }
        match parse_multipart_mixed(&body)
            .map_err(|reason| OutsideError::BadResponse { service: FEDERATION_SERVICE, reason })?
        {
            MediaPart::Bytes(bytes) => Ok(bytes),
            // The origin hands the content out elsewhere (a CDN, say): an ordinary guarded, capped fetch.
            MediaPart::Location(url) => self.fetch(FEDERATION_SERVICE, &url, None).await,
        }
    }
}

/// The content part of a federation media answer.
#[derive(Debug, PartialEq, Eq)]
pub enum MediaPart {
    /// The media itself.
    Bytes(Vec<u8>),
    /// Where to fetch it from.
    Location(String),
}

/// Parses a `multipart/mixed` federation media answer: the boundary is taken from the first line (the body starts
/// with `--<boundary>`), the first part is the JSON metadata, the second the content or a `Location` header.
pub fn parse_multipart_mixed(body: &[u8]) -> Result<MediaPart, String> {
    let first_line_end = find(body, b"\r\n").ok_or("no multipart boundary line")?;
    let boundary =
        body[..first_line_end].strip_prefix(b"--").ok_or("the body does not start with a boundary")?;
    let boundary = boundary.trim_ascii_end();
    if boundary.is_empty() {
        return Err("empty multipart boundary".to_owned());
    }
    let delimiter = [b"\r\n--".as_slice(), boundary].concat();
    let mut parts = Vec::new();
    let mut rest = &body[first_line_end + 2..];
    while let Some(end) = find(rest, &delimiter) {
        parts.push(&rest[..end]);
        rest = &rest[end + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest.strip_prefix(b"\r\n").ok_or("malformed multipart delimiter")?;
    }
    let [metadata, content, ..] = parts.as_slice() else {
        return Err(format!("expected two multipart parts, found {}", parts.len()));
    };
    let (_, metadata_body) = split_part(metadata)?;
    serde_json::from_slice::<serde_json::Value>(metadata_body)
        .map_err(|e| format!("the metadata part is not JSON: {e}"))?;
    let (headers, content_body) = split_part(content)?;
    let location = headers.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("location").then(|| value.trim().to_owned())
    });
    Ok(match location {
        Some(url) => MediaPart::Location(url),
        None => MediaPart::Bytes(content_body.to_vec()),
    })
}

/// Splits one part into its header block (as text) and its body.
fn split_part(part: &[u8]) -> Result<(String, &[u8]), String> {
    if let Some(body) = part.strip_prefix(b"\r\n") {
        return Ok((String::new(), body));
    }
    let end = find(part, b"\r\n\r\n").ok_or("a multipart part has no header end")?;
    Ok((String::from_utf8_lossy(&part[..end]).into_owned(), &part[end + 4..]))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::{MediaPart, parse_multipart_mixed};

    #[test]
    fn federation_media_answers_are_parsed() {
        let bytes = b"--b0undary\r\nContent-Type: application/json\r\n\r\n{}\r\n--b0undary\r\n\
            Content-Type: image/png\r\n\r\n\x89PNG\r\n--b0\r\n--b0undary--\r\n";
        assert_eq!(parse_multipart_mixed(bytes), Ok(MediaPart::Bytes(b"\x89PNG\r\n--b0".to_vec())));
        let redirect = b"--xyz\r\nContent-Type: application/json\r\n\r\n{}\r\n--xyz\r\n\
            Location: https://cdn.example.org/m/1\r\n\r\n\r\n--xyz--";
        assert_eq!(
            parse_multipart_mixed(redirect),
            Ok(MediaPart::Location("https://cdn.example.org/m/1".to_owned()))
        );
        for bad in [
            &b""[..],
            b"no boundary",
            b"--\r\n",
            b"--x\r\n\r\n{}\r\n--x--",
            b"--x\r\n\r\nnot json\r\n--x\r\n\r\nA\r\n--x--",
        ] {
            assert!(parse_multipart_mixed(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
