//! Anchored wildcard patterns, used by link filters, trust sources and policy lists.
//!
//! policyserv uses `ryanuber/go-glob`, where `*` is the only wildcard. Policy lists (MSC2313 as implemented by
//! Draupnir, Meowlnir and Mjolnir) also treat `?` as "exactly one character". Both flavours are offered; the caller
//! picks the one whose users' expectations it must meet.

use serde::{Deserialize, Serialize};

/// Which characters are wildcards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GlobSyntax {
    /// `*` matches any run of characters; everything else (including `?`) is literal. URL and user globs use this,
    /// because `?` is a common literal in URLs and policyserv treats it that way.
    StarOnly,
    /// `*` matches any run, `?` exactly one character (policy-list rules).
    StarAndQuestion,
}

/// A pattern that must match the whole text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Glob {
    pattern: Vec<char>,
    syntax: GlobSyntax,
    case_insensitive: bool,
}

/// A pattern that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// An empty pattern only matches empty text, which is always a configuration mistake (e.g. a trailing comma).
    #[error("empty pattern")]
    Empty,
}

impl Glob {
    /// Compiles `pattern`. Matching is case-sensitive unless [`Glob::case_insensitive`] is applied.
    pub fn new(pattern: &str, syntax: GlobSyntax) -> Result<Self, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError::Empty);
        }
        Ok(Self { pattern: pattern.chars().collect(), syntax, case_insensitive: false })
    }

    /// The same pattern, matching regardless of (Unicode simple) case.
    pub fn case_insensitive(mut self) -> Self {
        self.pattern = self.pattern.iter().flat_map(|c| c.to_lowercase()).collect();
        self.case_insensitive = true;
        self
    }

    /// The pattern as written (lower-cased if case-insensitive).
    pub fn as_string(&self) -> String {
        self.pattern.iter().collect()
    }

    /// Whether the pattern contains a wildcard (otherwise it is a literal).
    pub fn is_literal(&self) -> bool {
        !self.pattern.iter().any(|c| self.is_star(*c) || self.is_any_one(*c))
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = if self.case_insensitive {
            text.chars().flat_map(char::to_lowercase).collect()
        } else {
            text.chars().collect()
        };
        self.matches_chars(&text)
    }

    fn is_star(&self, c: char) -> bool {
        c == '*'
    }

    fn is_any_one(&self, c: char) -> bool {
        c == '?' && self.syntax == GlobSyntax::StarAndQuestion
    }

    /// Linear-time greedy matcher with single-point backtracking to the last `*` (no exponential blow-up on
    /// patterns like `*a*a*a*b`).
    fn matches_chars(&self, text: &[char]) -> bool {
        let pattern = &self.pattern;
        let (mut p, mut t) = (0usize, 0usize);
        let mut last_star: Option<(usize, usize)> = None;
        while t < text.len() {
            match pattern.get(p) {
                Some(&c) if self.is_star(c) => {
                    last_star = Some((p, t));
                    p += 1;
                }
                Some(&c) if self.is_any_one(c) || text.get(t) == Some(&c) => {
                    p += 1;
                    t += 1;
                }
                _ => match last_star {
                    Some((star_p, star_t)) => {
                        p = star_p + 1;
                        t = star_t + 1;
                        last_star = Some((star_p, star_t + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern.get(p..).is_some_and(|rest| rest.iter().all(|c| self.is_star(*c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn star(p: &str) -> Glob {
        Glob::new(p, GlobSyntax::StarOnly).unwrap()
    }

    fn full(p: &str) -> Glob {
        Glob::new(p, GlobSyntax::StarAndQuestion).unwrap()
    }

    #[test]
    fn table() {
        let cases: &[(Glob, &str, bool)] = &[
            (star("@alice*:example.org"), "@aliceeeeeeeeee:example.org", true),
            (star("@alice*:example.org"), "@alic:example.org", false),
            (star("*.example.org"), "subdomain.example.org", true),
            (star("*.example.org"), "example.org", false),
            (star("https://allowed.example.org/*"), "https://allowed.example.org/page", true),
            (star("https://allowed.example.org/*"), "https://allowed.example.org.evil/page", false),
            (star("*denied.example.org/path*"), "http://denied.example.org/path", true),
            (star("a?c"), "abc", false),
            (star("a?c"), "a?c", true),
            (full("a?c"), "abc", true),
            (full("a?c"), "ac", false),
            (full("*"), "", true),
            (full("a*b*c"), "aXXbYYc", true),
            (full("a*b*c"), "aXXbYY", false),
            (full("*a*a*a*b"), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            (full("exact"), "exact", true),
            (full("exact"), "exactly", false),
            (full("Ex*"), "example", false),
            (full("Ex*").case_insensitive(), "EXAMPLE", true),
            (full("é?"), "éa", true),
        ];
        for (glob, text, want) in cases {
            assert_eq!(glob.matches(text), *want, "{glob:?} vs {text}");
        }
    }

    #[test]
    fn empty_pattern_is_rejected_and_literals_are_detected() {
        assert_eq!(Glob::new("", GlobSyntax::StarOnly), Err(GlobError::Empty));
        assert!(full("abc").is_literal());
        assert!(!full("a?c").is_literal());
        assert!(star("a?c").is_literal());
    }
}
