//! How one key combines across configuration layers.

use std::collections::BTreeMap;

use crate::{FilterId, FilterMode};

/// How one key combines across layers.
pub(super) trait Layered: Clone {
    /// The value of a key given the lower and upper layers' values.
    fn layer(lower: Option<&Self>, upper: Option<&Self>) -> Option<Self> {
        upper.or(lower).cloned()
    }
}

impl Layered for bool {}
impl Layered for i64 {}
impl Layered for f64 {}
impl Layered for String {}
impl Layered for Vec<String> {}

impl Layered for BTreeMap<FilterId, FilterMode> {
    /// Per-filter: a room override that shadows one filter keeps the community's modes for the others.
    fn layer(lower: Option<&Self>, upper: Option<&Self>) -> Option<Self> {
        match (lower, upper) {
            (None, None) => None,
            (Some(only), None) | (None, Some(only)) => Some(only.clone()),
            (Some(lower), Some(upper)) => {
                let mut merged = lower.clone();
                merged.extend(upper.iter().map(|(k, v)| (*k, *v)));
                Some(merged)
            }
        }
    }
}
