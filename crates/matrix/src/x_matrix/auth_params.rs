//! The parameters of credentials in an `Authorization` header (RFC 9110 §11.4): `name=value` pairs, separated by
//! commas with optional spaces and tabs around them, where a value is a token or a quoted string whose
//! backslash-escaped characters are unescaped. Written for the one credential an X-Matrix header carries, without
//! the general challenge-list parser's cost on every request.

use std::borrow::Cow;

/// The `name=value` parameters of `list`, in order, values unescaped; the reason when `list` is not a
/// parameter list.
pub(super) fn parse(list: &str) -> Result<Vec<(&str, Cow<'_, str>)>, String> {
    let mut params = Vec::with_capacity(4);
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Ok(params);
        }
        let name_end = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty() {
            return Err(format!("expected a parameter name at {rest:?}"));
        }
        rest = rest[name_end..].trim_start_matches([' ', '\t']);
        rest = rest.strip_prefix('=').ok_or_else(|| format!("parameter {name:?} has no value"))?;
        rest = rest.trim_start_matches([' ', '\t']);
        let (value, after) = match rest.strip_prefix('"') {
            Some(quoted) => quoted_string(quoted).ok_or_else(|| format!("unterminated value of {name:?}"))?,
            None => {
                let end = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
                if end == 0 {
                    return Err(format!("parameter {name:?} has no value"));
                }
                (Cow::Borrowed(&rest[..end]), &rest[end..])
            }
        };
        params.push((name, value));
        rest = after.trim_start_matches([' ', '\t']);
        if !rest.is_empty() && !rest.starts_with(',') {
            return Err(format!("expected a comma at {rest:?}"));
        }
    }
}

/// A quoted string's content (after the opening quote), unescaped, and what follows its closing quote.
fn quoted_string(quoted: &str) -> Option<(Cow<'_, str>, &str)> {
    let mut unescaped: Option<String> = None;
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let value = unescaped.map_or(Cow::Borrowed(&quoted[..i]), Cow::Owned);
                return Some((value, &quoted[i + 1..]));
            }
            '\\' => {
                let (_, escaped) = chars.next()?;
                unescaped.get_or_insert_with(|| quoted[..i].to_owned()).push(escaped);
            }
            c if c.is_control() && c != '\t' => return None,
            c => {
                if let Some(unescaped) = &mut unescaped {
                    unescaped.push(c);
                }
            }
        }
    }
    None
}

/// A token character (RFC 9110 §5.6.2).
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pairs(list: &str) -> Vec<(String, String)> {
        parse(list).unwrap().into_iter().map(|(n, v)| (n.to_owned(), v.into_owned())).collect()
    }

    #[test]
    fn tokens_quoted_strings_and_spacing() {
        assert_eq!(
            pairs("origin=o.example ,\tkey = \"ed25519:k\",, sig=\"a\\\"b\\\\c\""),
            [("origin", "o.example"), ("key", "ed25519:k"), ("sig", "a\"b\\c")]
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
        assert_eq!(pairs(""), []);
        assert_eq!(pairs("a=\"\""), [("a".to_owned(), String::new())]);
    }

    #[test]
    fn malformed_lists_are_refused() {
        for list in [
            "origin",
            "origin=",
            "=x",
            "origin=\"unterminated",
            "origin=\"a\"b",
            "origin=a b",
            "origin=\"a\\",
            "origin=\"a\nb\"",
            "origin=a;key=b",
        ] {
            assert!(parse(list).is_err(), "{list:?}");
        }
    }
}
