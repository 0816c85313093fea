//! `/sign` bodies asked about lately, by the SHA-256 of their bytes.
//!
//! Every server in a room asks about each event it receives without our signature, and Synapse sends the event as
//! canonical JSON (its `unsigned` empty for a remote event), so the asks about one event carry the same bytes.
//! What those bytes alone decide is kept here once a second authenticated ask carried them (a body asked about
//! once costs only its hash): their canonical JSON (the `content` of each later ask's X-Matrix signing input,
//! which otherwise means parsing the body and writing it out again), and, once the event was signed, its room, its
//! ID and our signature (a neutral or allowed verdict never flips). What depends on the asker or on the room's
//! state now is still checked for every ask ([`super::sign_recent`]).

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use axum::body::Bytes;
use palisade_matrix::signing::PolicySignature;
use sha2::{Digest, Sha256};

use crate::oldest_first::OldestFirst;

/// Bodies kept: at 30 000 asks a second about events each asked by 100 servers, about ten seconds; each costs its
/// canonical JSON and a signature. As many hashes of bodies seen once are remembered (32 bytes each).
const CAPACITY: usize = 4_096;

/// The SHA-256 of a body's bytes.
pub type BodyHash = [u8; 32];

/// The latest bodies by hash; the oldest is forgotten first.
#[derive(Debug)]
pub struct RecentBodies {
    inner: Mutex<Recent>,
}

#[derive(Debug)]
struct Recent {
    /// Bodies asked about once.
    seen: OldestFirst<BodyHash, ()>,
    /// Bodies asked about again, kept.
    kept: OldestFirst<BodyHash, Arc<RecentBody>>,
}

/// One body: its canonical JSON and, once its event was signed, what the signature answer needs.
#[derive(Debug)]
pub struct RecentBody {
    canonical: Bytes,
    signed: OnceLock<SignedEvent>,
}

/// An event signed for an earlier ask with the same bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedEvent {
    /// The room it was asked about in (its context is looked up again).
    pub room_id: String,
    /// The event's ID.
    pub event_id: String,
    /// Our signature of it.
    pub signature: PolicySignature,
}

impl Default for RecentBodies {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl RecentBodies {
    /// Keeps up to `capacity` bodies (and remembers as many more hashes of bodies seen once).
    pub fn with_capacity(capacity: usize) -> Self {
        let recent =
            Recent { seen: OldestFirst::with_capacity(capacity), kept: OldestFirst::with_capacity(capacity) };
        Self { inner: Mutex::new(recent) }
    }

    /// The key a body is kept by.
    pub fn hash(body: &[u8]) -> BodyHash {
        Sha256::digest(body).into()
    }

    /// The body kept under `hash`, if any.
    pub fn get(&self, hash: &BodyHash) -> Option<Arc<RecentBody>> {
        self.lock().kept.get(hash).cloned()
    }

    /// Notes an authenticated ask whose body has the hash `hash` and the canonical JSON `canonical`: the first time
    /// only the hash is remembered, the second time the body is kept and returned (or the one kept already).
    pub fn note(&self, hash: BodyHash, canonical: Bytes) -> Option<Arc<RecentBody>> {
        let mut recent = self.lock();
        if let Some(kept) = recent.kept.get(&hash) {
            return Some(Arc::clone(kept));
        }
        if recent.seen.insert(hash, ()) {
            return None;
        }
        let body = Arc::new(RecentBody { canonical, signed: OnceLock::new() });
        recent.kept.insert(hash, Arc::clone(&body));
        Some(body)
    }

    fn lock(&self) -> MutexGuard<'_, Recent> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RecentBody {
    /// The body's canonical JSON.
    pub fn canonical(&self) -> &[u8] {
        &self.canonical
    }

    /// The event these bytes are, if it was signed.
    pub fn signed(&self) -> Option<&SignedEvent> {
        self.signed.get()
    }

    /// Records that these bytes are an event we signed (the first record stays: it is the same event).
    pub(super) fn remember(&self, signed: SignedEvent) {
        let _ = self.signed.set(signed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn signed(event_id: &str) -> SignedEvent {
        SignedEvent {
            room_id: "!r:x".to_owned(),
            event_id: event_id.to_owned(),
            signature: PolicySignature { server_name: "p.x".to_owned(), signature: "sig".to_owned() },
        }
    }

    #[test]
    fn a_body_is_kept_when_asked_about_again_and_the_oldest_is_forgotten_first() {
        let recent = RecentBodies::with_capacity(2);
        let [a, b, c] = [b"{\"a\":1}", b"{\"b\":2}", b"{\"c\":3}"].map(|body| RecentBodies::hash(body));
        assert!(recent.note(a, Bytes::from_static(b"{\"a\":1}")).is_none(), "seen once: only its hash");
        assert!(recent.get(&a).is_none());
        let first = recent.note(a, Bytes::from_static(b"{\"a\":1}")).unwrap();
        assert_eq!(recent.get(&a).unwrap().canonical(), b"{\"a\":1}");
        first.remember(signed("$a"));
        let again = recent.note(a, Bytes::from_static(b"other")).unwrap();
        assert!(Arc::ptr_eq(&again, &first), "kept once");
        for (hash, body) in [(b, &b"{\"b\":2}"[..]), (c, &b"{\"c\":3}"[..])] {
            recent.note(hash, Bytes::copy_from_slice(body));
            recent.note(hash, Bytes::copy_from_slice(body));
        }
        assert!(recent.get(&a).is_none(), "the oldest went first");
        assert!(recent.get(&b).is_some() && recent.get(&c).is_some());
        assert_eq!(first.signed(), Some(&signed("$a")), "a body already handed out keeps what it learned");
    }

    #[test]
    fn the_first_signature_recorded_stays() {
        let recent = RecentBodies::default();
        recent.note(RecentBodies::hash(b"x"), Bytes::from_static(b"x"));
        let body = recent.note(RecentBodies::hash(b"x"), Bytes::from_static(b"x")).unwrap();
        assert!(body.signed().is_none());
        body.remember(signed("$first"));
        body.remember(signed("$second"));
        assert_eq!(body.signed().unwrap().event_id, "$first");
    }
}
