//! Helpers shared by the integration tests.

// Each test binary uses the part it needs.
#![allow(dead_code)]

pub(crate) mod postgres;
pub(crate) mod served;
