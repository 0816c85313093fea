//! Fan-out of configuration changes from PostgreSQL `NOTIFY` into a tokio broadcast channel, and of hellban
//! changes into the store's hellban mirror.

use std::{sync::Weak, time::Duration};

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::hellban_mirror::HellbanMirror;
use crate::{ConfigChange, StoreResult};

/// The channel the table triggers of migration 0001 notify on.
pub(crate) const CHANNEL: &str = "palisade_config_changed";

/// The channel the hellbans trigger of migration 0004 notifies on.
const HELLBANS_CHANNEL: &str = "palisade_hellbans";

/// Pause before retrying after a listener error, so a down database is not spun on.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Aborts the listener task when the last store handle goes away.
#[derive(Debug)]
pub(crate) struct ListenerTask(JoinHandle<()>);

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Issues `LISTEN` and then forwards notifications in a background task.
///
/// `LISTEN` completes before this returns, so a change committed after a caller subscribed is
/// never missed.
pub(crate) async fn start(
    pool: &PgPool,
    sender: broadcast::Sender<ConfigChange>,
    hellbans: Weak<HellbanMirror>,
) -> StoreResult<ListenerTask> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all([CHANNEL, HELLBANS_CHANNEL]).await?;
    Ok(ListenerTask(tokio::spawn(forward(listener, sender, hellbans))))
}

/// Forwards notifications until aborted. A lost connection (or any error) means notifications may
/// have been missed, so subscribers are told to resync and the hellban mirror reloads; `try_recv`
/// reconnects and re-listens.
async fn forward(
    mut listener: PgListener,
    sender: broadcast::Sender<ConfigChange>,
    hellbans: Weak<HellbanMirror>,
) {
    let missed = |sender: &broadcast::Sender<ConfigChange>| {
        let _ = sender.send(ConfigChange::Resync);
        if let Some(hellbans) = hellbans.upgrade() {
            hellbans.forget();
        }
    };
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) if notification.channel() == HELLBANS_CHANNEL => {
                if let Some(hellbans) = hellbans.upgrade() {
                    apply_hellban(&hellbans, notification.payload());
                }
            }
            Ok(Some(notification)) => {
                let change = parse(notification.payload());
                let _ = sender.send(change);
            }
            Ok(None) => missed(&sender),
            Err(_) => {
                missed(&sender);
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

/// A hellbans row as the trigger announces it; no expiry means the ban was lifted.
#[derive(Debug, serde::Deserialize)]
struct HellbanChange {
    community_id: String,
    user_id: String,
    expires_at_ms: Option<i64>,
}

/// Applies one announced hellban change; a payload that does not decode makes the mirror reload.
fn apply_hellban(hellbans: &HellbanMirror, payload: &str) {
    match serde_json::from_str::<HellbanChange>(payload) {
        Ok(HellbanChange { community_id, user_id, expires_at_ms: Some(until) }) => {
            hellbans.banned(&community_id, &user_id, until);
        }
        Ok(HellbanChange { community_id, user_id, expires_at_ms: None }) => {
            hellbans.lifted(&community_id, &user_id);
        }
        Err(_) => hellbans.forget(),
    }
}

/// Decodes a trigger payload; anything unexpected degrades to a full resync rather than being lost.
fn parse(payload: &str) -> ConfigChange {
    serde_json::from_str(payload).unwrap_or(ConfigChange::Resync)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_trigger_payloads() {
        assert_eq!(parse(r#"{"kind": "room", "id": "!a:b"}"#), ConfigChange::Room("!a:b".to_owned()));
        assert_eq!(parse(r#"{"kind": "community", "id": "c1"}"#), ConfigChange::Community("c1".to_owned()));
        assert_eq!(
            parse(r#"{"kind": "room_state", "id": "!a:b"}"#),
            ConfigChange::RoomState("!a:b".to_owned())
        );
        assert_eq!(
            parse(r#"{"kind": "keyword_template", "id": "t"}"#),
            ConfigChange::KeywordTemplate("t".to_owned())
        );
        assert_eq!(parse("garbage"), ConfigChange::Resync);
    }
}
