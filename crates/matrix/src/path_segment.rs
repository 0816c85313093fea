//! Matrix identifiers in URL paths. Room, event and user IDs carry `!`, `$`, `@` and `:`, and v1/v2 event IDs may
//! carry `/` or `+`, so each is escaped to stay one path segment.

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(segment: &str) -> String {
    encode_keeping(segment, b"")
}

/// [`encode`], leaving `:` as it is: for server names (`host:port`) and media IDs in media paths.
pub fn encode_keeping_colons(segment: &str) -> String {
    encode_keeping(segment, b":")
}

fn encode_keeping(segment: &str, also_kept: &[u8]) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || also_kept.contains(&byte)
        {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_one_segment() {
        assert_eq!(encode("!room:example.org"), "%21room%3Aexample.org");
        assert_eq!(encode("!abc:hs.test"), "%21abc%3Ahs.test");
        assert_eq!(encode("@u:localhost:8448"), "%40u%3Alocalhost%3A8448");
        assert_eq!(encode("$abc/def+g"), "%24abc%2Fdef%2Bg");
        assert_eq!(encode("$x/y+z"), "%24x%2Fy%2Bz");
        assert_eq!(encode("A-z0_9.~"), "A-z0_9.~");
    }

    #[test]
    fn server_names_keep_their_port() {
        assert_eq!(encode_keeping_colons("example.org:8448"), "example.org:8448");
        assert_eq!(encode_keeping_colons("[::1]:8448"), "%5B::1%5D:8448");
        assert_eq!(encode_keeping_colons("a/b?c"), "a%2Fb%3Fc");
    }
}
