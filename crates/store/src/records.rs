//! Plain record types the store reads and writes. They know nothing about SQL or HTTP.

mod change;
mod community;
mod edu;
mod media_scan;
mod prune;
mod room;
mod room_state;
mod server_key;
mod verdict;

pub use change::ConfigChange;
pub use community::Community;
pub use edu::{EduBatch, EduRetry, QueuedEdu, edu_retry_delay_ms};
pub use media_scan::MediaScan;
pub use prune::PruneReport;
pub use room::{JoinState, Room};
pub use room_state::StateEvent;
pub use server_key::ServerKey;
pub use verdict::{StoredVerdict, VerdictClass, VerdictLookup, VerdictTrace};
