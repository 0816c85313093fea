//! What a retention pass removed.

/// Row counts deleted by [`crate::Store::prune`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Verdicts (with their traces) decided before the cut-off.
    pub verdicts: u64,
    /// Media scan results older than the cut-off.
    pub media_scans: u64,
    /// Stored federation transaction responses older than the cut-off.
    pub federation_txns: u64,
    /// Hellbans that expired before the cut-off.
    pub hellbans: u64,
    /// Frequency-window hits older than the cut-off.
    pub frequency_hits: u64,
}
