//! The time budget of one `/sign` request for outside services. Every outside call of the request shares one
//! deadline; a call still running when it passes is abandoned and reported as a failure, which the filter then
//! treats per its fail-secure / fail-open setting. So a slow service never holds the answer past the budget.

use std::time::Duration;

use palisade_policy::handles::{
    BoxFuture, Classification, MediaScanner, ScanResult, StateError, TextClassifier,
};
use palisade_policy::mxc::MxcUri;
use tokio::time::Instant;

/// When the outside services of one request must have answered.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    at: Instant,
    budget: Duration,
}

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self { at: Instant::now() + budget, budget }
    }

    /// Runs `work`, giving up when the deadline passes.
    pub async fn run<T>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, StateError>>,
    ) -> Result<T, StateError> {
        match tokio::time::timeout_at(self.at, work).await {
            Ok(result) => result,
            Err(_) => Err(StateError(format!(
                "{what} did not answer within this request's {} ms budget for outside services",
                self.budget.as_millis()
            ))),
        }
    }
}

/// A classifier or scanner held to a [`Deadline`].
#[derive(Debug)]
pub struct Budgeted<'a, T: ?Sized> {
    inner: &'a T,
    deadline: Deadline,
}

impl<'a, T: ?Sized> Budgeted<'a, T> {
    /// Wraps `inner`.
    pub fn new(inner: &'a T, deadline: Deadline) -> Self {
        Self { inner, deadline }
    }
}

impl<T: TextClassifier + ?Sized> TextClassifier for Budgeted<'_, T> {
    fn classify<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Classification, StateError>> {
        Box::pin(self.deadline.run("the text classifier", self.inner.classify(text)))
    }
}

impl<T: MediaScanner + ?Sized> MediaScanner for Budgeted<'_, T> {
    fn scan<'a>(
        &'a self,
        community: &'a str,
        media: &'a MxcUri,
    ) -> BoxFuture<'a, Result<ScanResult, StateError>> {
        Box::pin(self.deadline.run("the media scanner", self.inner.scan(community, media)))
    }
}
