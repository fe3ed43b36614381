//! Per-request batching of [`Loader`] calls without a timer.
//!
//! async-graphql's `DataLoader` gathers keys for a fixed delay (1 ms by default) on the
//! `futures-timer` thread before it loads them. Every list with a nested field paid that
//! delay, plus a wake-up of that thread, which on a busy machine comes late: the benchmark's
//! `allUsers { roles }` median was 1.5-2 ms above the direct-SQL baseline.
//!
//! The resolvers of one request run as futures of the request's own task, and a list's
//! items are polled in the same pass. So the first caller of a batch only needs to yield to
//! the executor once: by the time it runs again, its siblings have added their keys, and it
//! loads the whole batch for all of them. A caller left waiting when the batch's leader is
//! dropped (a sibling field failed and cancelled its part of the tree) starts a new batch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::dataloader::Loader;
use tokio::sync::oneshot;

type Outcome<V, E> = Result<Arc<HashMap<i64, V>>, E>;
type Answer<L> = oneshot::Receiver<Outcome<<L as Loader<i64>>::Value, <L as Loader<i64>>::Error>>;

/// Batches [`Loader::load`] calls by `i64` key for one request; no caching.
pub struct Batcher<L: Loader<i64>> {
    loader: L,
    state: Mutex<State<L::Value, L::Error>>,
}

struct State<V, E> {
    open: Option<Batch<V, E>>,
    opened: u64,
}

struct Batch<V, E> {
    /// Tells a batch from the next one, so a dropped leader only discards its own.
    id: u64,
    keys: Vec<i64>,
    waiters: Vec<oneshot::Sender<Outcome<V, E>>>,
}

impl<L: Loader<i64>> Batcher<L> {
    pub fn new(loader: L) -> Self {
        Batcher {
            loader,
            state: Mutex::new(State {
                open: None,
                opened: 0,
            }),
        }
    }

    /// The value for `key`, loaded together with the keys its sibling resolvers ask for.
    pub async fn load_one(&self, key: i64) -> Result<Option<L::Value>, L::Error> {
        loop {
            let (rx, leads) = self.join(key);
            if let Some(id) = leads {
                self.lead(id).await;
            }
            match rx.await {
                Ok(outcome) => return outcome.map(|values| values.get(&key).cloned()),
                // The leader was dropped before it answered: try again in a new batch.
                Err(_) => continue,
            }
        }
    }

    /// Adds `key` to the open batch, or opens one; `Some(id)` when the caller opened it.
    fn join(&self, key: i64) -> (Answer<L>, Option<u64>) {
        let (tx, rx) = oneshot::channel();
        let mut state = self.lock();
        let State { open, opened } = &mut *state;
        let mut leads = None;
        let batch = open.get_or_insert_with(|| {
            *opened += 1;
            leads = Some(*opened);
            Batch {
                id: *opened,
                keys: Vec::new(),
                waiters: Vec::new(),
            }
        });
        if !batch.keys.contains(&key) {
            batch.keys.push(key);
        }
        batch.waiters.push(tx);
        (rx, leads)
    }

    async fn lead(&self, id: u64) {
        let _abandon = Abandon { batcher: self, id };
        tokio::task::yield_now().await;
        let Some(batch) = self.take(id) else {
            return;
        };
        let outcome = self.loader.load(&batch.keys).await.map(Arc::new);
        for waiter in batch.waiters {
            // A waiter that is gone was cancelled with its part of the request.
            let _ = waiter.send(outcome.clone());
        }
    }

    /// The open batch if it is batch `id`.
    fn take(&self, id: u64) -> Option<Batch<L::Value, L::Error>> {
        self.lock().open.take_if(|batch| batch.id == id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<L::Value, L::Error>> {
        // The lock is never held across an await or user code, so poisoning carries no
        // half-done state worth refusing.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Discards a leader's batch if the leader is dropped before it took it, so the batch's
/// waiters see their senders gone and retry instead of waiting forever. Once the leader
/// took its batch this does nothing: the batch's senders go with the leader.
struct Abandon<'a, L: Loader<i64>> {
    batcher: &'a Batcher<L>,
    id: u64,
}

impl<L: Loader<i64>> Drop for Abandon<'_, L> {
    fn drop(&mut self) {
        self.batcher.take(self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::future::join_all;

    use super::*;

    /// Doubles keys; remembers every batch; fails on key 13.
    #[derive(Default)]
    struct Doubler {
        batches: Mutex<Vec<Vec<i64>>>,
        calls: AtomicUsize,
    }

    impl Loader<i64> for Doubler {
        type Value = i64;
        type Error = Arc<str>;

        async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, i64>, Arc<str>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.batches.lock().unwrap().push(keys.to_vec());
            tokio::task::yield_now().await;
            if keys.contains(&13) {
                return Err(Arc::from("unlucky"));
            }
            Ok(keys
                .iter()
                .filter(|k| **k >= 0)
                .map(|k| (*k, k * 2))
                .collect())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn siblings_share_one_load() {
        let batcher = Batcher::new(Doubler::default());
        let keys = [5, 3, 5, 8, -1, 2];
        let values = join_all(keys.iter().map(|k| batcher.load_one(*k))).await;
        let values: Vec<_> = values.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            values,
            [Some(10), Some(6), Some(10), Some(16), None, Some(4)]
        );
        assert_eq!(
            *batcher.loader.batches.lock().unwrap(),
            [vec![5, 3, 8, -1, 2]]
        );
    }

    #[tokio::test]
    async fn later_calls_make_a_new_batch() {
        let batcher = Batcher::new(Doubler::default());
        assert_eq!(batcher.load_one(1).await.unwrap(), Some(2));
        assert_eq!(batcher.load_one(2).await.unwrap(), Some(4));
        assert_eq!(batcher.loader.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_error_reaches_every_waiter() {
        let batcher = Batcher::new(Doubler::default());
        let results = join_all([1, 13].map(|k| batcher.load_one(k))).await;
        for result in results {
            assert_eq!(result.unwrap_err().as_ref(), "unlucky");
        }
        assert_eq!(batcher.loader.calls.load(Ordering::SeqCst), 1);
    }

    /// Starts a leader (key 1) and a follower (key 2) in one batch, polls the leader
    /// `leader_polls` more times, drops it, and returns the follower's value and the batches
    /// loaded. The follower must not be left waiting forever.
    async fn drop_the_leader(leader_polls: usize) -> (Option<i64>, Vec<Vec<i64>>) {
        let batcher = Batcher::new(Doubler::default());
        let mut leader = Box::pin(batcher.load_one(1));
        let mut follower = Box::pin(batcher.load_one(2));
        // Both join the batch; the leader yields inside `lead`.
        assert!(futures_util::poll!(leader.as_mut()).is_pending());
        assert!(futures_util::poll!(follower.as_mut()).is_pending());
        for _ in 0..leader_polls {
            assert!(futures_util::poll!(leader.as_mut()).is_pending());
        }
        drop(leader);
        let value = tokio::time::timeout(std::time::Duration::from_secs(5), follower)
            .await
            .expect("the follower was left waiting");
        let batches = batcher.loader.batches.lock().unwrap().clone();
        (value.unwrap(), batches)
    }

    /// A leader cancelled before it loads (a failing sibling dropped it).
    #[tokio::test]
    async fn waiters_survive_a_dropped_leader() {
        assert_eq!(drop_the_leader(0).await, (Some(4), vec![vec![2]]));
    }

    /// A leader cancelled after it took the batch: one more poll gets it past its yield and
    /// into the loader's own.
    #[tokio::test]
    async fn waiters_survive_a_leader_dropped_mid_load() {
        assert_eq!(
            drop_the_leader(1).await,
            (Some(4), vec![vec![1, 2], vec![2]])
        );
    }
}
