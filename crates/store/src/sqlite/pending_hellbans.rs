//! Hellbans waiting for the verdict connection's next transaction.
//!
//! A hellban follows a refusal, so under a spam wave they come as often as refused events. Each had been a
//! transaction of its own on the sqlx writer connection: an `fsync` each, SQLite's busy handler sleeping in growing
//! steps while the verdict writer's transactions followed each other (64 ms per refusal in the mix run on machine
//! G), and a commit on the second of this process's connections, which `other_writers` takes for another process's
//! write. Queued here, a ban is written by whichever transaction takes the verdict connection next: a verdict batch
//! or the ban's own, and every ban queued by then shares its commit.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// One ban to write: community, user, expiry (ms).
pub(super) type Hellban = (String, String, i64);

/// The queue, with a ticket per ban so a caller can tell when a commit holding its ban has happened.
#[derive(Debug, Default)]
pub(super) struct PendingHellbans {
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    /// Bans not yet taken by a transaction, with their tickets (ascending).
    waiting: Vec<(u64, Hellban)>,
    /// The last ticket given out.
    issued: u64,
    /// Every ticket up to this one is committed.
    committed: u64,
}

/// Bans taken by one transaction: committed with it, or given back if it fails.
#[derive(Debug)]
pub(super) struct Taken {
    bans: Vec<(u64, Hellban)>,
}

impl Taken {
    /// The bans to write.
    pub(super) fn bans(&self) -> impl Iterator<Item = &Hellban> {
        self.bans.iter().map(|(_, ban)| ban)
    }

    /// Whether there is nothing to write.
    pub(super) fn is_empty(&self) -> bool {
        self.bans.is_empty()
    }
}

impl PendingHellbans {
    /// Queues a ban and returns its ticket.
    pub(super) fn queue(&self, ban: Hellban) -> u64 {
        let mut queue = self.lock();
        queue.issued += 1;
        let ticket = queue.issued;
        queue.waiting.push((ticket, ban));
        ticket
    }

    /// Whether the ban of `ticket` is committed.
    pub(super) fn is_committed(&self, ticket: u64) -> bool {
        self.lock().committed >= ticket
    }

    /// Every ban waiting. Called inside the transaction that writes them, which holds the verdict connection, so
    /// no other transaction takes bans until this one has committed or given them back.
    pub(super) fn take(&self) -> Taken {
        Taken { bans: std::mem::take(&mut self.lock().waiting) }
    }

    /// The transaction holding `taken` committed.
    pub(super) fn committed(&self, taken: Taken) {
        if let Some(&(last, _)) = taken.bans.last() {
            let mut queue = self.lock();
            queue.committed = queue.committed.max(last);
        }
    }

    /// The transaction holding `taken` failed: its bans wait again, ahead of those queued since.
    pub(super) fn give_back(&self, taken: Taken) {
        let mut queue = self.lock();
        let later = std::mem::replace(&mut queue.waiting, taken.bans);
        queue.waiting.extend(later);
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(user: &str) -> Hellban {
        ("c".to_owned(), user.to_owned(), 10)
    }

    #[test]
    fn a_ban_is_committed_once_a_transaction_that_took_it_commits() {
        let pending = PendingHellbans::default();
        let first = pending.queue(ban("@a:x"));
        let taken = pending.take();
        let second = pending.queue(ban("@b:x"));
        assert_eq!(taken.bans().map(|b| b.1.as_str()).collect::<Vec<_>>(), ["@a:x"]);
        assert!(!pending.is_committed(first), "taken is not committed");
        pending.committed(taken);
        assert!(pending.is_committed(first));
        assert!(!pending.is_committed(second), "queued after the take");
        pending.committed(pending.take());
        assert!(pending.is_committed(second));
    }

    #[test]
    fn bans_given_back_are_taken_again_first() {
        let pending = PendingHellbans::default();
        let first = pending.queue(ban("@a:x"));
        let taken = pending.take();
        pending.queue(ban("@b:x"));
        pending.give_back(taken);
        assert!(!pending.is_committed(first));
        let again = pending.take();
        assert_eq!(again.bans().map(|b| b.1.as_str()).collect::<Vec<_>>(), ["@a:x", "@b:x"]);
        pending.committed(again);
        assert!(pending.is_committed(first));
    }

    #[test]
    fn an_empty_take_commits_nothing() {
        let pending = PendingHellbans::default();
        let taken = pending.take();
        assert!(taken.is_empty());
        pending.committed(taken);
        let ticket = pending.queue(ban("@a:x"));
        assert!(!pending.is_committed(ticket));
    }
}
