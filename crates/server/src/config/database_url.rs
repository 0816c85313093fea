//! Database connection URLs: the embedded SQLite default and PostgreSQL for production.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The storage engine a [`DatabaseUrl`] selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseBackend {
    /// `sqlite:` URLs: one file next to the server (or `sqlite::memory:`).
    Sqlite,
    /// `postgres://` or `postgresql://` URLs.
    Postgres,
}

/// A database URL. `Debug` and [`DatabaseUrl::masked`] hide the password; [`DatabaseUrl::expose`] gives it to
/// the driver.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// A built-in default, known to be valid (the `defaults_are_valid` test parses every default).
    pub(crate) fn trusted(value: &'static str) -> Self {
        Self(value.to_owned())
    }

    /// The full URL, password included, for the database driver.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Which backend the URL selects.
    pub fn backend(&self) -> DatabaseBackend {
        if self.0.starts_with("sqlite:") { DatabaseBackend::Sqlite } else { DatabaseBackend::Postgres }
    }

    /// The URL with the password of `user:password@` and any `password=` query parameter replaced by `***`.
    pub fn masked(&self) -> String {
        mask_url_password(&self.0)
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let rest =
            ["sqlite:", "postgres://", "postgresql://"].iter().find_map(|scheme| value.strip_prefix(scheme));
        match rest {
            Some(rest) if !rest.is_empty() && !value.chars().any(char::is_whitespace) => {
                Ok(Self(value.to_owned()))
            }
            // The value may hold a password, so the message shows only the masked form.
            _ => Err(format!(
                "{:?} is not a valid database URL (expected sqlite://PATH or postgres://USER:PASSWORD@HOST/DB)",
                mask_url_password(value)
            )),
        }
    }
}

/// Masks credentials in a URL: the password between `scheme://user:` and `@`, and `password=` query values.
pub(crate) fn mask_url_password(url: &str) -> String {
    let mut masked = mask_userinfo_password(url);
    if let Some(query_start) = masked.find('?') {
        let (head, query) = masked.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        masked = format!("{head}{}", query.join("&"));
    }
    masked
}

/// Masks `password` in `scheme://user:password@host...`; other URLs are returned unchanged.
fn mask_userinfo_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    // The last `@` ends the user info: passwords may contain `@` when not percent-encoded.
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    format!("{}***{}", &url[..scheme_end + colon + 1], &url[scheme_end + at..])
}

impl TryFrom<String> for DatabaseUrl {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl From<DatabaseUrl> for String {
    fn from(url: DatabaseUrl) -> Self {
        url.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_backend_by_scheme() {
        let sqlite: DatabaseUrl = "sqlite://./data/palisade.db".parse().unwrap();
        assert_eq!(sqlite.backend(), DatabaseBackend::Sqlite);
        let memory: DatabaseUrl = "sqlite::memory:".parse().unwrap();
        assert_eq!(memory.backend(), DatabaseBackend::Sqlite);
        let pg: DatabaseUrl =
            "postgres://policyserv:devonly@localhost/policyserv?sslmode=disable".parse().unwrap();
        assert_eq!(pg.backend(), DatabaseBackend::Postgres);
        let pg2: DatabaseUrl = "postgresql://db/x".parse().unwrap();
        assert_eq!(pg2.backend(), DatabaseBackend::Postgres);
    }

    #[test]
    fn rejects_other_schemes_without_leaking_password() {
        let err = "mysql://root:hunter2@db/x".parse::<DatabaseUrl>().unwrap_err();
        assert!(err.contains("is not a valid database URL"), "{err}");
        let err = "postgres://".parse::<DatabaseUrl>().unwrap_err();
        assert!(err.contains("is not a valid database URL"), "{err}");
        let err = "postgres ://u:hunter2@db/x".parse::<DatabaseUrl>().unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn masks_passwords() {
        let cases = [
            ("postgres://user:hunter2@db:5432/palisade", "postgres://user:***@db:5432/palisade"),
            ("postgres://user:p@ss@db/x", "postgres://user:***@db/x"),
            ("postgres://user@db/x", "postgres://user@db/x"),
            (
                "postgres://db/x?user=u&password=hunter2&sslmode=require",
                "postgres://db/x?user=u&password=***&sslmode=require",
            ),
            ("sqlite://./data/palisade.db", "sqlite://./data/palisade.db"),
        ];
        for (url, expected) in cases {
            assert_eq!(mask_url_password(url), expected);
        }
        let url: DatabaseUrl = "postgres://u:hunter2@db/x".parse().unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
