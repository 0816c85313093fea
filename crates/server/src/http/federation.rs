//! The inbound server-server API: what other homeservers send to a server that sits in their rooms
//! (`reference/synapse-interop.md` §2 and §5). One endpoint per file:
//!
//! * [`auth`]: the X-Matrix extractor every authenticated endpoint takes.
//! * `send`: `PUT /_matrix/federation/v1/send/{txnId}`, PDUs checked and handed to a [`PduSink`].
//! * `user_devices`, `query_profile`: stubs for our one user, so remote servers stop asking.
//! * `invite`: `PUT /_matrix/federation/v2/invite/{roomId}/{eventId}` under the operator's invite policy.
//! * `well_known_server`: `/.well-known/matrix/server` delegation.
//! * `unrecognized`: every other `/_matrix/federation/*` path, answered with one Matrix error body.

use std::{collections::BTreeSet, sync::Arc};

use axum::{
    Router,
    routing::{any, get, put},
};
use palisade_matrix::{OwnedUserId, ServerName};

use super::{AppState, only};
use crate::config::{AcceptInvites, Config};

pub mod auth;
mod invite;
pub mod pdu_sink;
mod query_profile;
mod send;
mod unrecognized;
mod user_devices;
mod well_known_server;

pub use auth::FederationRequest;
pub use pdu_sink::{DiscardPdus, PduSink};

/// The inbound federation routes, merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_matrix/federation/v1/send/{txn_id}", only(put(send::put)))
        .route("/_matrix/federation/v1/user/devices/{user_id}", only(get(user_devices::get)))
        .route("/_matrix/federation/v1/query/profile", only(get(query_profile::get)))
        .route("/_matrix/federation/v2/invite/{room_id}/{event_id}", only(put(invite::put)))
        .route("/.well-known/matrix/server", only(get(well_known_server::get)))
        .route("/_matrix/federation/{*rest}", any(unrecognized::any))
}

/// What the inbound endpoints need beyond the shared state: where accepted PDUs go and the operator's answers.
#[derive(Clone)]
pub struct InboundFederation {
    /// Receives the PDUs of `/send` transactions that passed the checks.
    pub pdu_sink: Arc<dyn PduSink>,
    /// The operator's settings for the inbound endpoints.
    pub settings: InboundSettings,
}

impl std::fmt::Debug for InboundFederation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundFederation").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl InboundFederation {
    /// The settings from `config`, with `pdu_sink` receiving accepted PDUs.
    pub fn from_config(config: &Config, pdu_sink: Arc<dyn PduSink>) -> Self {
        Self { pdu_sink, settings: InboundSettings::from_config(config) }
    }
}

/// The inbound-federation settings, taken out of [`Config`] once at startup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundSettings {
    /// Localpart of our only user, `@<join_localpart>:<server_name>`.
    pub join_localpart: String,
    /// Which invites of that user we counter-sign.
    pub accept_invites: AcceptInvites,
    /// With [`AcceptInvites::Listed`]: servers whose users may invite us.
    pub invite_allowed_servers: BTreeSet<String>,
    /// With [`AcceptInvites::Listed`]: rooms we may be invited into.
    pub invite_allowed_rooms: BTreeSet<String>,
    /// `m.server` of `/.well-known/matrix/server`, if delegation is configured.
    pub well_known_server: Option<String>,
}

impl Default for InboundSettings {
    /// The configuration defaults: policyserv's user name, invites refused, no delegation.
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

impl InboundSettings {
    /// Copies the relevant settings.
    pub fn from_config(config: &Config) -> Self {
        let federation = &config.federation;
        Self {
            join_localpart: federation.join_localpart.as_str().to_owned(),
            accept_invites: federation.accept_invites,
            invite_allowed_servers: federation
                .invite_allowed_servers
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            invite_allowed_rooms: federation
                .invite_allowed_rooms
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            well_known_server: federation.well_known_server.as_ref().map(ToString::to_string),
        }
    }
}

/// Who a user ID in a request is, seen from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UserLookup {
    /// The policy server's own user.
    Ours,
    /// Our server name, but not a user we have (we have exactly one).
    UnknownLocal,
    /// A user of another server: not ours to answer for.
    Remote,
}

impl UserLookup {
    /// Classifies `user_id` for a server named `server_name` whose user has the localpart in `settings`.
    pub(crate) fn of(user_id: &OwnedUserId, server_name: &ServerName, settings: &InboundSettings) -> Self {
        if user_id.server_name() != server_name {
            Self::Remote
        } else if user_id.localpart() == settings.join_localpart {
            Self::Ours
        } else {
            Self::UnknownLocal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_classified_by_server_and_localpart() {
        let settings = InboundSettings::default();
        let ours: &ServerName = "palisade.example.org".try_into().unwrap();
        let user = |id: &str| -> OwnedUserId { id.try_into().unwrap() };
        assert_eq!(
            UserLookup::of(&user("@policyserv:palisade.example.org"), ours, &settings),
            UserLookup::Ours
        );
        assert_eq!(
            UserLookup::of(&user("@alice:palisade.example.org"), ours, &settings),
            UserLookup::UnknownLocal
        );
        assert_eq!(
            UserLookup::of(&user("@policyserv:elsewhere.example"), ours, &settings),
            UserLookup::Remote
        );
    }

    #[test]
    fn settings_come_from_the_config() {
        let mut config = Config::default();
        config.federation.accept_invites = AcceptInvites::Listed;
        config.federation.invite_allowed_servers = vec!["friends.example".parse().unwrap()];
        config.federation.well_known_server = Some("palisade.example:443".parse().unwrap());
        let settings = InboundSettings::from_config(&config);
        assert_eq!(settings.accept_invites, AcceptInvites::Listed);
        assert!(settings.invite_allowed_servers.contains("friends.example"));
        assert_eq!(settings.well_known_server.as_deref(), Some("palisade.example:443"));
        assert_eq!(settings.join_localpart, "policyserv");
    }
}
