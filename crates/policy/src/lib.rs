//! The decision engine: given an event, the room it is in and the community's effective configuration, decide
//! whether the policy server signs it. No I/O happens here except through traits this crate defines
//! ([`handles`]).

pub mod block_on;
pub mod check;
pub mod community_config;
pub mod condition;
pub mod content_class;
pub mod event;
pub mod filter;
pub mod filter_id;
pub mod filter_mode;
pub mod filters;
pub mod glob;
pub mod handles;
pub mod harms;
pub mod html_tags;
pub mod keyword_template;
pub mod mxc;
pub mod pipeline;
pub mod policy_list;
pub mod power_levels;
pub mod render;
pub mod room;
pub mod scope;
pub mod trust;
pub mod user_id;
pub mod verdict;

#[cfg(test)]
mod testing;

pub use check::{CheckError, check_offline};
pub use community_config::{CommunityConfig, CommunityConfigError, EffectiveConfig};
pub use content_class::ContentClass;
pub use event::{Event, EventError};
pub use filter_id::FilterId;
pub use filter_mode::FilterMode;
pub use pipeline::{DecideError, PHASES, Phase, decide, decide_text, decision_is_repeatable};
pub use room::RoomSnapshot;
pub use scope::{InstanceSettings, Scope};
pub use verdict::{TraceEntry, Verdict};
