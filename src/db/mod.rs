//! The data layer: connection pools, routing of reads and writes, and the one-body-per-query
//! dispatch over MySQL and SQLite.
//!
//! Callers state their intent and [`Database`] owns the policy:
//! - [`Database::write`] always hands out a primary connection, and fails at once while the
//!   monitor sees the primary down (read-only mode);
//! - [`Database::read`] hands out a replica connection (round-robin over the replicas in
//!   rotation), falling back to the primary with a `warn!` and a counter when none can serve;
//! - [`Database::read_after`] honours a consistency token (see [`gtid`]), and
//!   [`Database::run_read_held`] retries a read once elsewhere when its connection breaks or hangs.
//!
//! The monitor (`monitor.rs`) keeps replica health, lag and rotation, with hysteresis.
//!
//! Repository functions take `&mut DbConn` and return [`diesel::QueryResult`]; their body is
//! written once inside [`db_run!`] and compiled for each backend. Whoever owns the unit of
//! work opens the transaction with [`DbConn::transaction`].
//!
//! Replica sessions are read-only (set in the pool's connection setup), so a write routed to
//! the wrong pool fails loudly instead of diverging the replica.

mod conn;
pub mod connect;
pub mod gtid;
mod held;
pub mod migrate;
mod monitor;
pub mod paging;
mod pool;
mod read;
pub mod schema;
pub mod sql;
pub mod tls;

mod replica;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use diesel::QueryResult;
use diesel_async::AsyncMysqlConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use scoped_futures::ScopedBoxFuture;
use secrecy::SecretString;

use crate::config::{DatabaseConfig, DatabaseUrl};

pub use conn::{DbConn, SqliteConn};
pub(crate) use conn::{db_run, insert_all};
pub use gtid::{Flavor, FlavorCell, Token};
pub use held::{Held, Lease};
pub use pool::PoolKind;
pub use replica::{Probe, Replica};

/// Which servers a request uses; decided once per request from its operation type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A `query`: replicas, falling back to the primary.
    Read,
    /// A `mutation`: the primary for everything it resolves, payload included.
    Write,
}

/// Where a connection came from; recorded in metrics and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Primary,
    Replica(Arc<str>),
}

impl Target {
    pub fn label(&self) -> &str {
        match self {
            Target::Primary => "primary",
            Target::Replica(name) => name,
        }
    }
}

/// Why a connection could not be handed out.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the primary database is unavailable: {0}")]
    PrimaryUnavailable(String),
    #[error("every connection of the {0} pool is busy (DB_POOL_SIZE, DB_ACQUIRE_TIMEOUT)")]
    Busy(String),
    #[error("no database can serve reads: {0}")]
    ReadUnavailable(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

#[derive(Clone)]
pub(crate) enum AnyPool {
    Mysql(Pool<AsyncMysqlConnection>),
    Sqlite(Pool<SqliteConn>),
}

impl AnyPool {
    /// A connection, telling "every connection is busy" apart from "cannot connect".
    async fn checkout(&self, name: &str) -> Result<DbConn, DbError> {
        self.checkout_with(name, true).await
    }

    /// [`AnyPool::checkout`], waiting up to `DB_ACQUIRE_TIMEOUT` for a free connection, or
    /// not at all (`wait == false`: busy at once when every connection is in use).
    async fn checkout_with(&self, name: &str, wait: bool) -> Result<DbConn, DbError> {
        use deadpool::managed::{PoolError, TimeoutType, Timeouts};
        let started = std::time::Instant::now();
        let timeouts = |mut t: Timeouts| {
            if !wait {
                t.wait = Some(std::time::Duration::ZERO);
            }
            t
        };
        let conn = match self {
            AnyPool::Mysql(p) => p
                .timeout_get(&timeouts(p.timeouts()))
                .await
                .map(DbConn::Mysql),
            AnyPool::Sqlite(p) => p
                .timeout_get(&timeouts(p.timeouts()))
                .await
                .map(DbConn::Sqlite),
        }
        .map_err(|e| match e {
            PoolError::Timeout(TimeoutType::Wait) => DbError::Busy(name.to_owned()),
            other => DbError::PrimaryUnavailable(other.to_string()),
        });
        metrics::histogram!("adminql_db_acquire_seconds", "pool" => name.to_owned())
            .record(started.elapsed().as_secs_f64());
        conn
    }

    fn status(&self) -> deadpool::Status {
        match self {
            AnyPool::Mysql(p) => p.status(),
            AnyPool::Sqlite(p) => p.status(),
        }
    }

    /// Drops every idle connection: they may all be broken when their server went away (a
    /// restart, a failover), and without a ping per checkout they would fail one request each.
    pub(crate) fn drop_idle(&self) {
        let dropped = match self {
            AnyPool::Mysql(p) => p.retain(|_, _| false).removed.len(),
            AnyPool::Sqlite(_) => 0,
        };
        if dropped > 0 {
            tracing::debug!(dropped, "dropped idle connections");
        }
    }

    fn close(&self) {
        match self {
            AnyPool::Mysql(p) => p.close(),
            AnyPool::Sqlite(p) => p.close(),
        }
    }
}

/// Occupancy of one pool, for `/ready` and metrics.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PoolState {
    pub name: String,
    pub role: &'static str,
    pub size: usize,
    pub available: usize,
    pub max_size: usize,
    pub waiting: usize,
    pub in_rotation: bool,
}

struct Inner {
    primary: AnyPool,
    primary_url: Option<SecretString>,
    /// Cleared by the monitor when the primary stops answering; writes then fail fast.
    primary_healthy: AtomicBool,
    replicas: Vec<Replica>,
    next_replica: AtomicUsize,
    config: DatabaseConfig,
    /// MariaDB or MySQL: GTIDs and their functions differ.
    flavor: FlavorCell,
}

/// The primary pool and the replica set. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

type ReadFn<'a, T> =
    dyn for<'c> FnMut(&'c mut DbConn) -> ScopedBoxFuture<'a, 'c, QueryResult<T>> + Send + 'a;

impl Database {
    /// Builds the pools. No connection is opened here; use [`Database::check_primary`]
    /// to find out whether the primary answers.
    pub fn new(config: &DatabaseConfig) -> anyhow::Result<Self> {
        let flavor = FlavorCell::default();
        let (primary, primary_url, replicas) = match &config.primary {
            DatabaseUrl::Sqlite(path) => {
                // SQLite allows one writer at a time: one write connection avoids SQLITE_BUSY
                // on lock upgrades, and a read-only pool serves reads concurrently (WAL).
                let writer = pool::sqlite(path, config, PoolKind::Primary)?;
                let readers = pool::sqlite(path, config, PoolKind::Replica)?;
                let local = Replica::new("sqlite-readers", AnyPool::Sqlite(readers), None);
                (AnyPool::Sqlite(writer), None, vec![local])
            }
            DatabaseUrl::Mysql(url) => {
                let primary = AnyPool::Mysql(pool::mysql(url, config, PoolKind::Primary, &flavor)?);
                let mut replicas = Vec::new();
                for (i, replica) in config.replicas.iter().enumerate() {
                    let DatabaseUrl::Mysql(url) = replica else {
                        anyhow::bail!("replica {i} is not a mysql:// URL");
                    };
                    let pool =
                        AnyPool::Mysql(pool::mysql(url, config, PoolKind::Replica, &flavor)?);
                    replicas.push(Replica::new(
                        &format!("replica-{i}"),
                        pool,
                        Some(url.clone()),
                    ));
                }
                (primary, Some(url.clone()), replicas)
            }
        };
        Ok(Database {
            inner: Arc::new(Inner {
                primary,
                primary_url,
                primary_healthy: AtomicBool::new(true),
                replicas,
                next_replica: AtomicUsize::new(0),
                config: config.clone(),
                flavor,
            }),
        })
    }

    /// Starts the replica monitor (MySQL mode); it stops when the runtime does.
    pub fn spawn_monitor(&self) {
        // Exported from the start, not from the monitor's first answer: a scrape (or a test)
        // that comes first must not find the gauge missing.
        metrics::gauge!("adminql_read_only").set(if self.primary_healthy() { 0.0 } else { 1.0 });
        if self.inner.primary_url.is_some() {
            tokio::spawn(monitor::run(self.clone()));
        }
    }

    /// A primary connection, for writes and reads that must be current. Fails at once with
    /// [`DbError::PrimaryUnavailable`] while the monitor sees the primary down.
    pub async fn write(&self) -> Result<(DbConn, Target), DbError> {
        if !self.primary_healthy() {
            return Err(DbError::PrimaryUnavailable(
                "the primary does not answer".into(),
            ));
        }
        let conn = self.inner.primary.checkout("primary").await?;
        Ok((conn, Target::Primary))
    }

    /// Which server product this database runs; MariaDB until a connection told otherwise.
    pub fn flavor(&self) -> Flavor {
        self.inner.flavor.get()
    }

    /// The shared record of the flavor, for whoever learns or needs it later (see
    /// [`gtid::track_commits`]).
    pub fn flavor_cell(&self) -> &FlavorCell {
        &self.inner.flavor
    }

    pub fn primary_healthy(&self) -> bool {
        self.inner.primary_healthy.load(Ordering::Relaxed)
    }

    /// For a start without the primary: writes answer `READ_ONLY_MODE` at once, until the
    /// monitor's heartbeat reaches the primary.
    pub fn start_read_only(&self, reason: &str) {
        self.set_primary_healthy(false, reason);
    }

    pub(crate) fn set_primary_healthy(&self, healthy: bool, reason: &str) {
        if self.inner.primary_healthy.swap(healthy, Ordering::Relaxed) != healthy {
            self.inner.primary.drop_idle();
            if healthy {
                tracing::warn!("primary is back: writes resume");
            } else {
                tracing::warn!(%reason, "primary is down: read-only mode");
            }
        }
        metrics::gauge!("adminql_read_only").set(if healthy { 0.0 } else { 1.0 });
    }

    /// The replica set, for the health monitor and status reports.
    pub fn replicas(&self) -> &[Replica] {
        &self.inner.replicas
    }

    pub(crate) fn config(&self) -> &DatabaseConfig {
        &self.inner.config
    }

    pub(crate) fn primary_url(&self) -> Option<&SecretString> {
        self.inner.primary_url.as_ref()
    }

    /// Opens a primary connection and runs a trivial statement.
    pub async fn check_primary(&self) -> Result<(), DbError> {
        let (mut conn, _) = self.write().await?;
        ping(&mut conn)
            .await
            .map_err(|e| DbError::PrimaryUnavailable(e.to_string()))
    }

    /// Occupancy of every pool.
    pub fn pool_states(&self) -> Vec<PoolState> {
        let state = |name: &str, role, pool: &AnyPool, in_rotation| {
            let s = pool.status();
            PoolState {
                name: name.to_owned(),
                role,
                size: s.size,
                available: s.available,
                max_size: s.max_size,
                waiting: s.waiting,
                in_rotation,
            }
        };
        let mut out = vec![state(
            "primary",
            "primary",
            &self.inner.primary,
            self.primary_healthy(),
        )];
        for r in &self.inner.replicas {
            out.push(state(&r.name, "replica", &r.pool, r.in_rotation()));
        }
        out
    }

    /// Publishes pool occupancy gauges (called when `/metrics` is scraped).
    pub fn publish_pool_metrics(&self) {
        for p in self.pool_states() {
            let in_use = p.size.saturating_sub(p.available);
            metrics::gauge!("adminql_db_pool_connections", "pool" => p.name.clone())
                .set(p.size as f64);
            metrics::gauge!("adminql_db_pool_in_use", "pool" => p.name.clone()).set(in_use as f64);
            metrics::gauge!("adminql_db_pool_waiting", "pool" => p.name.clone())
                .set(p.waiting as f64);
            metrics::gauge!("adminql_db_pool_max", "pool" => p.name).set(p.max_size as f64);
        }
    }

    /// Closes every pool; later requests for a connection fail at once.
    pub fn close(&self) {
        self.inner.primary.close();
        for r in &self.inner.replicas {
            r.pool.close();
        }
    }
}

/// `SELECT 1` on a connection.
pub async fn ping(conn: &mut DbConn) -> diesel::QueryResult<()> {
    use diesel_async::RunQueryDsl;
    db_run!(conn: {
        diesel::sql_query("SELECT 1").execute(conn).await.map(|_| ())
    })
}
