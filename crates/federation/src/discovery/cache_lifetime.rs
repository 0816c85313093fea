//! How long a `/.well-known/matrix/server` answer is cached, from its `Cache-Control` and `Expires` headers.
//!
//! The spec asks servers to respect the response's cache headers, to use 24 hours when there are none, to cap the
//! lifetime at 48 hours, and to cache errors for up to an hour.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// Lifetime when the response says nothing.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// Floor, so a `max-age=0` or `no-store` delegation does not make us fetch it before every request.
pub const MIN_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Cap recommended by the spec.
pub const MAX_LIFETIME: Duration = Duration::from_secs(48 * 60 * 60);
/// Lifetime of a failed or invalid lookup.
pub const ERROR_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The lifetime of a successful response with these headers, received at `now`, within the bounds above.
pub fn lifetime(headers: &HeaderMap, now: SystemTime) -> Duration {
    let asked = cache_control(headers).or_else(|| expires(headers, now)).unwrap_or(DEFAULT_LIFETIME);
    asked.clamp(MIN_LIFETIME, MAX_LIFETIME)
}

/// `max-age` from `Cache-Control`, or zero for `no-store`/`no-cache`; `None` when neither is present.
fn cache_control(headers: &HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(seconds) = lower.strip_prefix("max-age=")
                && let Ok(seconds) = seconds.trim_matches('"').parse::<u64>()
            {
                found = Some(Duration::from_secs(seconds));
            }
        }
    }
    found
}

/// Time until the `Expires` date; a past or unparsable date counts as already expired.
fn expires(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(http::header::EXPIRES)?.to_str().ok()?;
    let Ok(at) = httpdate::parse_http_date(value) else { return Some(Duration::ZERO) };
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn lifetimes_follow_headers_within_bounds() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let in_two_hours = httpdate::fmt_http_date(now + Duration::from_secs(7200));
        let cases: &[(&[(&str, &str)], Duration)] = &[
            (&[], DEFAULT_LIFETIME),
            (&[("cache-control", "public, max-age=7200")], Duration::from_secs(7200)),
            (&[("cache-control", "max-age=1")], MIN_LIFETIME),
            (&[("cache-control", "no-store")], MIN_LIFETIME),
            (&[("cache-control", "max-age=99999999")], MAX_LIFETIME),
            (&[("expires", &in_two_hours)], Duration::from_secs(7200)),
            (&[("expires", "garbage")], MIN_LIFETIME),
            // Cache-Control wins over Expires.
            (&[("expires", &in_two_hours), ("cache-control", "max-age=10800")], Duration::from_secs(10800)),
        ];
        for (pairs, expected) in cases {
            assert_eq!(lifetime(&headers(pairs), now), *expected, "{pairs:?}");
        }
    }
}
