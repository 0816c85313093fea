//! Media hash matching (HMA). Downloading, MIME sniffing, caching and time limits belong to the implementation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::{BoxFuture, StateError};
use crate::mxc::MxcUri;

/// What a scan found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanResult {
    /// Names of the banks with a match.
    pub matched_banks: BTreeSet<String>,
}

/// Scans one media item for a community.
pub trait MediaScanner: Send + Sync + std::fmt::Debug {
    /// Downloads (or looks up) and scans `media`.
    fn scan<'a>(
        &'a self,
        community: &'a str,
        media: &'a MxcUri,
    ) -> BoxFuture<'a, Result<ScanResult, StateError>>;
}

/// A scanner answering from a table; unknown media scan clean. Counts calls.
#[derive(Debug, Default)]
pub struct FakeScanner {
    /// Results by `mxc://` URI; `Err` simulates a failing download or scan.
    pub results: BTreeMap<String, Result<ScanResult, StateError>>,
    calls: Mutex<u64>,
}

impl FakeScanner {
    /// How many scans were requested.
    pub fn calls(&self) -> u64 {
        self.calls.lock().map(|c| *c).unwrap_or(0)
    }
}

impl MediaScanner for FakeScanner {
    fn scan<'a>(
        &'a self,
        _community: &'a str,
        media: &'a MxcUri,
    ) -> BoxFuture<'a, Result<ScanResult, StateError>> {
        if let Ok(mut calls) = self.calls.lock() {
            *calls += 1;
        }
        let result =
            self.results.get(&media.to_string()).cloned().unwrap_or_else(|| Ok(ScanResult::default()));
        Box::pin(std::future::ready(result))
    }
}
