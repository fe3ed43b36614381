//! One read replica: its pool and the health state the monitor keeps for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};

use secrecy::SecretString;

use super::AnyPool;

/// Consecutive healthy probes before a replica that left rotation takes reads again.
pub const PROBES_TO_RETURN: u32 = 3;

pub struct Replica {
    pub name: Arc<str>,
    pub(super) pool: AnyPool,
    /// For the monitor's own connection (None for the embedded SQLite readers).
    pub(super) url: Option<SecretString>,
    in_rotation: AtomicBool,
    healthy: AtomicBool,
    healthy_streak: AtomicU32,
    /// Replication lag in microseconds; negative while unknown.
    lag_micros: AtomicI64,
}

/// What a probe found. The lag is recorded whatever the verdict, so the figures keep
/// rising while a replica falls behind (`None`: it could not be measured).
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Healthy {
        lag_seconds: Option<f64>,
    },
    Unhealthy {
        reason: String,
        lag_seconds: Option<f64>,
    },
}

impl Probe {
    /// A probe that could not measure the lag (unreachable, timed out, failed).
    pub fn failed(reason: impl Into<String>) -> Self {
        Probe::Unhealthy {
            reason: reason.into(),
            lag_seconds: None,
        }
    }
}

impl Replica {
    pub(super) fn new(name: &str, pool: AnyPool, url: Option<SecretString>) -> Self {
        Replica {
            name: Arc::from(name),
            pool,
            url,
            in_rotation: AtomicBool::new(true),
            healthy: AtomicBool::new(true),
            healthy_streak: AtomicU32::new(PROBES_TO_RETURN),
            lag_micros: AtomicI64::new(-1),
        }
    }

    /// Whether reads are sent here.
    pub fn in_rotation(&self) -> bool {
        self.in_rotation.load(Ordering::Relaxed)
    }

    /// Whether the last probe found it healthy.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn lag_seconds(&self) -> Option<f64> {
        let micros = self.lag_micros.load(Ordering::Relaxed);
        (micros >= 0).then(|| micros as f64 / 1e6)
    }

    /// Takes the replica out of rotation at once (a read on it just failed).
    pub fn suspend(&self, reason: &str) {
        self.healthy_streak.store(0, Ordering::Relaxed);
        if self.in_rotation.swap(false, Ordering::Relaxed) {
            tracing::warn!(replica = %self.name, %reason, "replica left rotation");
            self.publish();
        }
    }

    /// Applies a probe: out at the first bad one, back after [`PROBES_TO_RETURN`] good ones.
    pub fn record(&self, probe: Probe) {
        let (Probe::Healthy { lag_seconds } | Probe::Unhealthy { lag_seconds, .. }) = &probe;
        self.lag_micros.store(
            lag_seconds.map_or(-1, |s| (s.max(0.0) * 1e6) as i64),
            Ordering::Relaxed,
        );
        match probe {
            Probe::Healthy { .. } => {
                self.healthy.store(true, Ordering::Relaxed);
                let streak = self.healthy_streak.fetch_add(1, Ordering::Relaxed) + 1;
                if streak >= PROBES_TO_RETURN && !self.in_rotation.swap(true, Ordering::Relaxed) {
                    // Connections returned while it was away may be broken.
                    self.pool.drop_idle();
                    tracing::warn!(replica = %self.name, healthy_probes = streak, "replica returned to rotation");
                }
            }
            Probe::Unhealthy {
                reason,
                lag_seconds,
            } => {
                if lag_seconds.is_none() {
                    // Unreachable or failing: its idle connections are likely gone too.
                    self.pool.drop_idle();
                }
                self.healthy.store(false, Ordering::Relaxed);
                self.healthy_streak.store(0, Ordering::Relaxed);
                if self.in_rotation.swap(false, Ordering::Relaxed) {
                    tracing::warn!(replica = %self.name, %reason, "replica left rotation");
                }
            }
        }
        self.publish();
    }

    fn publish(&self) {
        let name = self.name.to_string();
        metrics::gauge!("adminql_replica_in_rotation", "replica" => name.clone())
            .set(if self.in_rotation() { 1.0 } else { 0.0 });
        // NaN while the lag cannot be measured: distinct from 0, and no stale value.
        metrics::gauge!("adminql_replica_lag_seconds", "replica" => name)
            .set(self.lag_seconds().unwrap_or(f64::NAN));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn replica() -> Replica {
        let config = Config::from_lookup(|_| None).unwrap();
        let dir = std::env::temp_dir().join("adminql-replica-unit.db");
        let pool =
            super::super::pool::sqlite(&dir, &config.database, super::super::PoolKind::Replica)
                .unwrap();
        Replica::new("r", AnyPool::Sqlite(pool), None)
    }

    #[tokio::test]
    async fn leaves_at_once_and_returns_after_a_streak() {
        let r = replica();
        assert!(r.in_rotation());
        r.record(Probe::Unhealthy {
            reason: "lag 9s".into(),
            lag_seconds: Some(9.0),
        });
        assert!(!r.in_rotation());
        assert_eq!(
            r.lag_seconds(),
            Some(9.0),
            "the lag of an unhealthy probe counts"
        );
        r.record(Probe::failed("unreachable"));
        assert_eq!(r.lag_seconds(), None, "unknown, not the last value");
        for _ in 0..PROBES_TO_RETURN - 1 {
            r.record(Probe::Healthy {
                lag_seconds: Some(0.1),
            });
            assert!(!r.in_rotation(), "hysteresis");
        }
        r.record(Probe::Healthy {
            lag_seconds: Some(0.1),
        });
        assert!(r.in_rotation());
        assert_eq!(r.lag_seconds(), Some(0.1));
        r.suspend("connection reset");
        assert!(!r.in_rotation());
    }
}
