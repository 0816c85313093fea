//! Hasher-Matcher-Actioner as a [`MediaScanner`] (catalogue §7.3): download the media, sniff photo or video,
//! `POST <base>/h/hash` as a multipart form (file field `photo` or `video`, filename `x`), then for every
//! `{signal_type: signal}` of the answer `GET <base>/m/lookup?signal_type=..&signal=..`; the keys of each lookup
//! answer are the matched banks. All requests carry the API key as a bearer token.
//!
//! Differences from policyserv: lookup answers must have a success status (policyserv ignored it), every answer
//! has a size cap, and results are cached per `mxc://` URI in memory (content behind a URI never changes, and bank
//! matches do not depend on the community; policyserv cached per URI and community in its database). Errors are
//! never cached.

use std::collections::BTreeMap;
use std::sync::Mutex;

use palisade_policy::handles::{BoxFuture, MediaScanner, ScanResult, StateError};
use palisade_policy::mxc::MxcUri;

use super::http::{OutsideError, OutsideHttp, OutsideRequest};
use super::media::MediaDownloader;
use crate::oldest_first::OldestFirst;

const SERVICE: &str = "HMA";

/// HMA answers (hashes, bank maps) are small.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Scan results kept in memory.
const CACHE_ENTRIES: usize = 10_000;

/// What HMA is asked to hash the media as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentType {
    /// Any image (and anything not recognised as video), as policyserv does.
    Photo,
    /// MP4, WebM/Matroska, AVI or MPEG.
    Video,
}

impl ContentType {
    /// Sniffs the bytes' signature: the video formats Go's `http.DetectContentType` knows are videos, the rest is
    /// treated as a photo.
    pub fn sniff(bytes: &[u8]) -> Self {
        let at =
            |offset: usize, signature: &[u8]| bytes.get(offset..offset + signature.len()) == Some(signature);
        let mp4 = at(4, b"ftyp") && is_mp4_brand(bytes);
        let webm = at(0, &[0x1A, 0x45, 0xDF, 0xA3]);
        let avi = at(0, b"RIFF") && at(8, b"AVI ");
        let mpeg = at(0, &[0, 0, 1, 0xBA]) || at(0, &[0, 0, 1, 0xB3]);
        if mp4 || webm || avi || mpeg { Self::Video } else { Self::Photo }
    }

    /// The form field HMA expects.
    pub fn field(self) -> &'static str {
        match self {
            Self::Photo => "photo",
            Self::Video => "video",
        }
    }
}

/// An ISO base-media file whose major or a compatible brand starts with `mp4` (as Go's sniffer checks).
fn is_mp4_brand(bytes: &[u8]) -> bool {
    let Some(size) = bytes.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])) else {
        return false;
    };
    let end = usize::try_from(size).unwrap_or(usize::MAX).min(bytes.len());
    if end < 12 {
        return false;
    }
    // Major brand at 8..12, minor version at 12..16, compatible brands from 16.
    (8..end).step_by(4).filter(|&i| i != 12).any(|i| bytes.get(i..i + 3) == Some(b"mp4"))
}

/// The scanner.
pub struct HmaScanner {
    http: OutsideHttp,
    base: String,
    api_key: Option<String>,
    downloader: MediaDownloader,
    cache: Mutex<OldestFirst<String, ScanResult>>,
}

impl std::fmt::Debug for HmaScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmaScanner")
            .field("base", &self.base)
            .field("downloader", &self.downloader)
            .finish_non_exhaustive()
    }
}

impl HmaScanner {
    /// A scanner for the HMA instance at `base_url`, downloading media with `downloader`.
    pub fn new(
        http: OutsideHttp,
        base_url: &str,
        api_key: Option<String>,
        downloader: MediaDownloader,
    ) -> Self {
        Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            api_key,
            downloader,
            cache: Mutex::new(OldestFirst::with_capacity(CACHE_ENTRIES)),
        }
    }

    /// Downloads, hashes and looks up `media`, or answers from the cache.
    pub async fn scan_media(&self, media: &MxcUri) -> Result<ScanResult, OutsideError> {
        let key = media.to_string();
        if let Some(hit) = self.cache.lock().ok().and_then(|cache| cache.get(&key).cloned()) {
            return Ok(hit);
        }
        let bytes = self.downloader.download(media).await?;
        let result = self.scan_bytes(&bytes).await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, result.clone());
        }
        Ok(result)
    }

    /// Hashes and looks up raw media bytes.
    pub async fn scan_bytes(&self, bytes: &[u8]) -> Result<ScanResult, OutsideError> {
        let signals = self.hash(ContentType::sniff(bytes), bytes).await?;
        let mut result = ScanResult::default();
        for (signal_type, signal) in &signals {
            result.matched_banks.extend(self.lookup(signal_type, signal).await?);
        }
        Ok(result)
    }

    async fn hash(
        &self,
        content_type: ContentType,
        bytes: &[u8],
    ) -> Result<BTreeMap<String, String>, OutsideError> {
        let (boundary, body) = multipart_file(content_type.field(), "x", bytes);
        let request = OutsideRequest {
            service: SERVICE,
            method: reqwest::Method::POST,
            url: self.http.checked_url(&format!("{}/h/hash", self.base))?,
            bearer: self.api_key.as_deref(),
            body: Some((format!("multipart/form-data; boundary={boundary}"), body)),
            max_response_bytes: MAX_RESPONSE_BYTES,
        };
        let answer = self.http.send(request).await?;
        serde_json::from_slice(&answer).map_err(|e| OutsideError::BadResponse {
            service: SERVICE,
            reason: format!("hash answer is not a map of signal types to strings: {e}"),
        })
    }

    async fn lookup(&self, signal_type: &str, signal: &str) -> Result<Vec<String>, OutsideError> {
        let mut url = self.http.checked_url(&format!("{}/m/lookup", self.base))?;
        url.query_pairs_mut().append_pair("signal_type", signal_type).append_pair("signal", signal);
        let request = OutsideRequest {
            service: SERVICE,
            method: reqwest::Method::GET,
            url,
            bearer: self.api_key.as_deref(),
            body: None,
            max_response_bytes: MAX_RESPONSE_BYTES,
        };
        let answer = self.http.send(request).await?;
        let banks: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&answer).map_err(|e| OutsideError::BadResponse {
                service: SERVICE,
                reason: format!("lookup answer is not a JSON object: {e}"),
            })?;
        Ok(banks.into_iter().map(|(bank, _)| bank).collect())
    }
}

impl MediaScanner for HmaScanner {
    fn scan<'a>(
        &'a self,
        _community: &'a str,
        media: &'a MxcUri,
    ) -> BoxFuture<'a, Result<ScanResult, StateError>> {
        Box::pin(async move { self.scan_media(media).await.map_err(|e| StateError(e.to_string())) })
    }
}

/// A `multipart/form-data` body with one file; returns the boundary (one that does not occur in the file).
pub fn multipart_file(field: &str, filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let mut attempt = 0u32;
    let boundary = loop {
        let candidate = format!("palisade-boundary-{attempt:08x}-{:016x}", bytes.len());
        if !bytes.windows(candidate.len()).any(|w| w == candidate.as_bytes()) {
            break candidate;
        }
        attempt += 1;
    };
    let mut body = Vec::with_capacity(bytes.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        let mut mp4 = vec![0, 0, 0, 24];
        mp4.extend_from_slice(b"ftypisom\0\0\x02\0isommp41");
        let cases: [(&[u8], ContentType); 7] = [
            (&mp4, ContentType::Video),
            (&[0x1A, 0x45, 0xDF, 0xA3, 1, 2], ContentType::Video),
            (b"RIFF\0\0\0\0AVI LIST", ContentType::Video),
            (&[0, 0, 1, 0xBA, 0x44], ContentType::Video),
            (b"\x89PNG\r\n\x1a\n", ContentType::Photo),
            (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", ContentType::Photo),
            (b"", ContentType::Photo),
        ];
        for (bytes, want) in cases {
            assert_eq!(ContentType::sniff(bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn multipart_boundary_avoids_the_content() {
        let (first, _) = multipart_file("photo", "x", b"abc");
        let tricky = format!("xx{first}yy");
        let (boundary, body) = multipart_file("photo", "x", tricky.as_bytes());
        assert_ne!(boundary, first);
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"x\"\r\n"
        )));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
    }
}
