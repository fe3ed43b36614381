//! A short-lived, per-pod cache of list totals (`_allXsMeta { count }`).
//!
//! react-admin asks for the total with every page it shows, and on InnoDB `COUNT(*)` walks a
//! whole index: it was the most expensive statement of a list request (bench/README.md). A
//! total is kept for `GRAPHQL_COUNT_CACHE_TTL` per resource and filter, and is never used
//! where staleness would show:
//! - a request carrying a consistency token (its client wrote recently) counts afresh, so a
//!   client always sees its own creates and deletes in the total;
//! - a mutation and everything under it counts on the primary, uncached;
//! - every mutation this pod runs drops all totals, and a count that started before that
//!   cannot be stored after it (a generation number), so embedded mode, with one process, is
//!   always exact.
//!
//! Another client's write therefore shows in a total at most one TTL late, on top of the
//! replica lag every list read already has. A TTL of zero turns the cache off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most totals kept; past this the expired ones go, and if that is not enough, all of them.
const MAX_ENTRIES: usize = 1024;

/// Which totals exist: the resource and its parsed filter (`Debug` of the repository filter).
type Key = (&'static str, String);

pub struct CountCache {
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bumped by every mutation; a count may be stored only under the generation it started in.
    generation: u64,
    entries: HashMap<Key, (Instant, i64)>,
}

/// What a caller needs to store the count it is about to run.
pub struct Pending {
    key: Key,
    generation: u64,
}

impl CountCache {
    pub fn new(ttl: Duration) -> Self {
        CountCache {
            ttl,
            state: Mutex::new(State::default()),
        }
    }

    /// The cached total for `resource` under `filter`, or what [`CountCache::store`] needs
    /// once the caller has counted. `None` and no `Pending` when the cache is off.
    pub fn lookup(
        &self,
        resource: &'static str,
        filter: &impl std::fmt::Debug,
    ) -> Result<i64, Option<Pending>> {
        if self.ttl.is_zero() {
            return Err(None);
        }
        let key = (resource, format!("{filter:?}"));
        let state = self.lock();
        if let Some((at, count)) = state.entries.get(&key)
            && at.elapsed() < self.ttl
        {
            metrics::counter!("adminql_count_cache_total", "result" => "hit").increment(1);
            return Ok(*count);
        }
        metrics::counter!("adminql_count_cache_total", "result" => "miss").increment(1);
        Err(Some(Pending {
            key,
            generation: state.generation,
        }))
    }

    /// Keeps `count`, unless a mutation ran since the matching [`CountCache::lookup`].
    pub fn store(&self, pending: Pending, count: i64) {
        let mut state = self.lock();
        if state.generation != pending.generation {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            state.entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if state.entries.len() >= MAX_ENTRIES {
                state.entries.clear();
            }
        }
        state.entries.insert(pending.key, (Instant::now(), count));
    }

    /// Drops every total; called after each mutation.
    pub fn invalidate(&self) {
        let mut state = self.lock();
        state.generation = state.generation.wrapping_add(1);
        state.entries.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is one step.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_within_the_ttl_and_misses_after() {
        let cache = CountCache::new(Duration::from_millis(50));
        let pending = cache.lookup("users", &"all").unwrap_err().unwrap();
        cache.store(pending, 7);
        assert_eq!(cache.lookup("users", &"all").ok(), Some(7));
        assert!(cache.lookup("users", &"active").is_err(), "filters differ");
        assert!(cache.lookup("roles", &"all").is_err(), "resources differ");
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.lookup("users", &"all").is_err(), "expired");
    }

    #[test]
    fn a_mutation_drops_totals_and_refuses_counts_begun_before_it() {
        let cache = CountCache::new(Duration::from_secs(60));
        let pending = cache.lookup("users", &"all").unwrap_err().unwrap();
        cache.store(pending, 7);
        let begun_before = cache.lookup("users", &"x").unwrap_err().unwrap();
        cache.invalidate();
        assert!(cache.lookup("users", &"all").is_err());
        cache.store(begun_before, 3);
        assert!(cache.lookup("users", &"x").is_err(), "stale count stored");
    }

    #[test]
    fn zero_ttl_is_off_and_size_is_bounded() {
        let off = CountCache::new(Duration::ZERO);
        assert!(matches!(off.lookup("users", &"all"), Err(None)));
        let cache = CountCache::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES + 10 {
            let pending = cache.lookup("users", &i).unwrap_err().unwrap();
            cache.store(pending, 1);
        }
        assert!(cache.lock().entries.len() <= MAX_ENTRIES);
    }
}
