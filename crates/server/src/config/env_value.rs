//! policyserv's environment value syntaxes (kelseyhightower/envconfig), turned into TOML values.
//!
//! Semantics, chosen to match envconfig where it is sensible:
//! * A variable that is set, even to `""`, overrides the file and the default. For a list `""` is the empty
//!   list, for a map the empty map, for an optional setting "unset"; for a boolean or a number it is an error
//!   (envconfig fails too).
//! * Lists are `a,b,c`. Unlike envconfig, items are trimmed and empty items are skipped (`a, b,` = `a,b`):
//!   a stray space in a CIDR or a host name is never meant.
//! * Maps are `key:value,key2:value2`. envconfig refuses more than one `:` in an item; Palisade splits at the
//!   last one, so a key may carry a port (`example.org:8448:token`). Every value envconfig accepts parses the same.
//! * Booleans are Go's `strconv.ParseBool` set: `1 t T TRUE true True 0 f F FALSE false False`.
//! * Counts are decimal whole numbers (envconfig would also take `0x` prefixes; nobody writes those).

use toml::Value;

/// Parses a boolean the way Go's `strconv.ParseBool` does.
pub(crate) fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("{raw:?} is not a boolean (expected true or false)")),
    }
}

/// Parses a non-negative decimal count that fits the `u32` fields it lands in.
pub(crate) fn parse_count(raw: &str) -> Result<i64, String> {
    raw.trim()
        .parse::<u32>()
        .map(i64::from)
        .map_err(|_| format!("{raw:?} is not a whole number from 0 to {}", u32::MAX))
}

/// Splits a comma list into trimmed, non-empty items.
pub(crate) fn split_list(raw: &str) -> Vec<&str> {
    raw.split(',').map(str::trim).filter(|item| !item.is_empty()).collect()
}

/// Splits a `key:value,…` map; each item is split at its last `:`.
pub(crate) fn split_map(raw: &str) -> Result<Vec<(&str, &str)>, String> {
    split_list(raw)
        .into_iter()
        .map(|item| {
            item.rsplit_once(':')
                .map(|(key, value)| (key.trim(), value.trim()))
                .filter(|(key, value)| !key.is_empty() && !value.is_empty())
                // The item may hold a secret (a token), so only its position is reported.
                .ok_or_else(|| "every item must look like key:value".to_owned())
        })
        .collect()
}

/// Checks `raw` with `T`'s parser and keeps it as a TOML string.
pub(crate) fn checked<T: std::str::FromStr<Err = String>>(raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    raw.parse::<T>().map(|_| Value::String(raw.to_owned()))
}

/// Like [`checked`], but `""` stays `""` (unset).
pub(crate) fn checked_optional<T: std::str::FromStr<Err = String>>(raw: &str) -> Result<Value, String> {
    if raw.trim().is_empty() { Ok(Value::String(String::new())) } else { checked::<T>(raw) }
}

/// A comma list whose items are each checked with `T`'s parser.
pub(crate) fn checked_list<T: std::str::FromStr<Err = String>>(raw: &str) -> Result<Value, String> {
    split_list(raw).into_iter().map(checked::<T>).collect::<Result<Vec<_>, _>>().map(Value::Array)
}

/// A `key:value` map whose keys and values are checked with `K`'s and `V`'s parsers.
pub(crate) fn checked_map<K, V>(raw: &str) -> Result<Value, String>
where
    K: std::str::FromStr<Err = String>,
    V: std::str::FromStr<Err = String>,
{
    let mut table = toml::Table::new();
    for (key, value) in split_map(raw)? {
        key.parse::<K>()?;
        value.parse::<V>()?;
        table.insert(key.to_owned(), Value::String(value.to_owned()));
    }
    Ok(Value::Table(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_follow_go() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(yes), Ok(true));
        }
        for no in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(no), Ok(false));
        }
        for bad in ["", "yes", "tRuE", "2"] {
            assert!(parse_bool(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("25"), Ok(25));
        assert_eq!(parse_count(" 7 "), Ok(7));
        for bad in ["", "-1", "1.5", "ten", "4294967296"] {
            assert!(parse_count(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lists_trim_and_skip_empty_items() {
        assert_eq!(split_list("a,b"), ["a", "b"]);
        assert_eq!(split_list(" a , b ,"), ["a", "b"]);
        assert!(split_list("").is_empty());
        assert!(split_list(" , ").is_empty());
    }

    #[test]
    fn maps_split_at_last_colon() {
        assert_eq!(split_map("a.org:tok1,b.org:tok2").unwrap(), [("a.org", "tok1"), ("b.org", "tok2")]);
        assert_eq!(split_map("a.org:8448:tok").unwrap(), [("a.org:8448", "tok")]);
        assert!(split_map("").unwrap().is_empty());
        for bad in ["novalue", "a.org:", ":tok"] {
            let err = split_map(bad).unwrap_err();
            assert!(!err.contains("tok"), "secret leaked: {err}");
        }
    }
}
