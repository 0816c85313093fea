//! Serde glue for optional settings: an empty string means "unset".
//!
//! TOML has no null, and policyserv treats an empty variable as "off" (`PS_HTTP_PPROF_BIND=`, `PS_API_KEY=`), so
//! both the file and the environment spell "unset" as `""`. Rendering writes `""` back, which keeps
//! `palisade config check` output loadable.

use std::fmt::Display;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Writes `None` as `""` and `Some(v)` as `v`.
pub(crate) fn serialize<S, T>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: Serialize,
{
    match value {
        Some(inner) => inner.serialize(serializer),
        None => serializer.serialize_str(""),
    }
}

/// Reads `""` as `None` and anything else through `T`'s `FromStr`, whose error becomes the message.
pub(crate) fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let raw = String::deserialize(deserializer)?;
    if raw.is_empty() { Ok(None) } else { raw.parse().map(Some).map_err(serde::de::Error::custom) }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use crate::config::bind::BindAddress;

    #[derive(Debug, Serialize, Deserialize)]
    struct Holder {
        #[serde(with = "super")]
        value: Option<BindAddress>,
    }

    #[test]
    fn empty_string_is_none_and_round_trips() {
        let none: Holder = toml::from_str("value = \"\"").unwrap();
        assert!(none.value.is_none());
        assert_eq!(toml::to_string(&none).unwrap().trim(), "value = \"\"");
        let some: Holder = toml::from_str("value = \"0.0.0.0:8082\"").unwrap();
        assert_eq!(some.value.map(|b| b.to_string()).as_deref(), Some("0.0.0.0:8082"));
        let err = toml::from_str::<Holder>("value = \"nope\"").unwrap_err();
        assert!(err.to_string().contains("is not a valid bind address"), "{err}");
    }
}
