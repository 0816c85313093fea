//! Minimal user-ID handling for filters: splitting `@localpart:server` without trusting the input.

/// A borrowed, syntactically checked user ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserIdRef<'a> {
    full: &'a str,
    localpart: &'a str,
    server: &'a str,
}

impl<'a> UserIdRef<'a> {
    /// Accepts `@localpart:server` with both parts non-empty and no whitespace or control characters. This is
    /// deliberately lenient about historical localpart characters (the spec allows them in old rooms); it only
    /// rejects what cannot be a user ID at all.
    pub fn parse(full: &'a str) -> Option<Self> {
        let rest = full.strip_prefix('@')?;
        let (localpart, server) = rest.split_once(':')?;
        let sane = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        (sane(localpart) && sane(server) && full.len() <= 255).then_some(Self { full, localpart, server })
    }

    /// The whole ID.
    pub fn as_str(&self) -> &'a str {
        self.full
    }

    /// The part between `@` and the first `:`.
    pub fn localpart(&self) -> &'a str {
        self.localpart
    }

    /// The server name, with any port.
    pub fn server(&self) -> &'a str {
        self.server
    }

    /// The server name without a port, for matching server rules (`example.org:8448` → `example.org`; IPv6
    /// literals keep their brackets).
    pub fn server_without_port(&self) -> &'a str {
        strip_port(self.server)
    }
}

/// Removes a trailing `:port` from a server name.
pub fn strip_port(server: &str) -> &str {
    match server.rsplit_once(':') {
        // `[::1]` has colons inside the brackets: only a colon after `]` starts a port.
        Some((host, port))
            if port.chars().all(|c| c.is_ascii_digit()) && (!host.contains(':') || host.ends_with(']')) =>
        {
            host
        }
        _ => server,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        type Parts = (&'static str, &'static str, &'static str);
        let cases: &[(&str, Option<Parts>)] = &[
            ("@alice:example.org", Some(("alice", "example.org", "example.org"))),
            ("@alice:example.org:8448", Some(("alice", "example.org:8448", "example.org"))),
            ("@a:[::1]:8448", Some(("a", "[::1]:8448", "[::1]"))),
            ("@a:[::1]", Some(("a", "[::1]", "[::1]"))),
            ("alice:example.org", None),
            ("@alice", None),
            ("@:example.org", None),
            ("@alice:", None),
            ("@al ice:example.org", None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = UserIdRef::parse(input).map(|u| (u.localpart(), u.server(), u.server_without_port()));
            assert_eq!(got, *want, "{input}");
        }
    }
}
