//! Merging concurrent runs of the same keyed operation (a key fetch, an event evaluation): the first caller runs
//! it, the others wait for its result.

use std::{collections::HashMap, future::Future, sync::Arc, sync::Mutex};

use tokio::sync::OnceCell;

/// In-flight operations by key, each producing a cloneable result shared with every concurrent caller.
#[derive(Debug)]
pub struct InFlight<T> {
    running: Mutex<HashMap<String, Arc<OnceCell<T>>>>,
}

impl<T> Default for InFlight<T> {
    fn default() -> Self {
        Self { running: Mutex::new(HashMap::new()) }
    }
}

impl<T: Clone> InFlight<T> {
    /// Runs `operation` for `key` unless one is already running, in which case its result is awaited instead.
    ///
    /// If the caller running the operation is cancelled, a waiting caller runs it anew (`OnceCell` semantics), so
    /// nobody waits for a fetch that was dropped.
    pub async fn run<F, Fut>(&self, key: &str, operation: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let Some(cell) = self.cell(key) else { return operation().await };
        let value = cell.get_or_init(operation).await.clone();
        // The next call after this one finishes should fetch afresh, so forget the finished operation.
        if let Ok(mut running) = self.running.lock()
            && running.get(key).is_some_and(|current| Arc::ptr_eq(current, &cell))
        {
            running.remove(key);
        }
        value
    }

    /// The shared cell of `key`, created if none is running; `None` if the table is unusable.
    fn cell(&self, key: &str) -> Option<Arc<OnceCell<T>>> {
        let mut running = self.running.lock().ok()?;
        Some(running.entry(key.to_owned()).or_default().clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_calls_share_one_run_and_later_calls_run_again() {
        let in_flight = InFlight::<usize>::default();
        let runs = AtomicUsize::new(0);
        let operation = || async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            runs.fetch_add(1, Ordering::SeqCst) + 1
        };
        let (a, b, c) = tokio::join!(
            in_flight.run("k", operation),
            in_flight.run("k", operation),
            in_flight.run("k", operation)
        );
        assert_eq!((a, b, c), (1, 1, 1));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Another key runs on its own, and the finished key runs again.
        assert_eq!(in_flight.run("other", operation).await, 2);
        assert_eq!(in_flight.run("k", operation).await, 3);
    }
}
