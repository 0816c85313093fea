//! Who is deciding: the community and instance-level settings that communities cannot change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Instance settings the filters need (the rest of the instance configuration lives in the server).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSettings {
    /// The policy server's own user (`@<PS_JOIN_LOCALPART>:<PS_HOMESERVER_NAME>`), protected from membership
    /// changes by others.
    pub local_user_id: Option<String>,
    /// Rooms where the text classifier runs (`PS_OPENAI_FILTER_ALLOWED_ROOM_IDS`); empty: nowhere.
    pub classifier_room_ids: Vec<String>,
    /// Stored keyword templates by name (Go text/template source).
    pub keyword_templates: BTreeMap<String, String>,
}

/// The venue of a decision.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    /// The community the room belongs to (`default` when unassigned).
    pub community_id: &'a str,
    /// Instance settings.
    pub instance: &'a InstanceSettings,
}
