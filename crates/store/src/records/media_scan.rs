//! Cached results of scanning a piece of media for a community.

use crate::VerdictClass;

/// The outcome of scanning one `mxc://` URI under one community's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaScan {
    /// The media URI.
    pub mxc_uri: String,
    /// The community whose scanners produced the result.
    pub community_id: String,
    /// Outcome class.
    pub class: VerdictClass,
    /// Harm identifiers (empty unless prohibited).
    pub harms: Vec<String>,
    /// When the scan finished (ms); used for retention.
    pub scanned_at_ms: i64,
}
