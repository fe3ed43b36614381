//! The data layer: connection pools, routing of reads and writes, and the one-body-per-query
//! dispatch over MySQL and SQLite.
//!
//! Callers state their intent and [`Database`] owns the policy:
//! - [`Database::write`] always hands out a primary connection, and fails at once while the
//!   monitor sees the primary down (read-only mode);
//! - [`Database::read`] hands out a replica connection (round-robin over the replicas in
//!   rotation), falling back to the primary with a `warn!` and a counter when none can serve;
//! - [`Database::read_after`] honours a consistency token (see [`gtid`]), and
//!   [`Database::run_read`] retries a read once elsewhere when its connection breaks or hangs.
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
mod pool;
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
use crate::db_run;

pub use conn::{DbConn, SqliteConn};
pub use gtid::Token;
pub use held::Held;
pub use pool::PoolKind;
pub use replica::{Probe, Replica};

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
                let primary = AnyPool::Mysql(pool::mysql(url, config, PoolKind::Primary)?);
                let mut replicas = Vec::new();
                for (i, replica) in config.replicas.iter().enumerate() {
                    let DatabaseUrl::Mysql(url) = replica else {
                        anyhow::bail!("replica {i} is not a mysql:// URL");
                    };
                    let pool = AnyPool::Mysql(pool::mysql(url, config, PoolKind::Replica)?);
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
            }),
        })
    }

    /// Starts the replica monitor (MySQL mode); it stops when the runtime does.
    pub fn spawn_monitor(&self) {
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

    /// A connection for reads: a replica in rotation (round-robin), else the primary.
    pub async fn read(&self) -> Result<(DbConn, Target), DbError> {
        self.read_avoiding(None).await
    }

    /// Like [`Database::read`], skipping the replica named `avoid` (it just failed).
    ///
    /// A replica whose pool has no free connection is busy, not broken: it stays in rotation,
    /// and when every replica in rotation is busy the read fails with [`DbError::Busy`]
    /// (`SERVICE_UNAVAILABLE`, retryable) instead of moving to the primary, so that a traffic
    /// spike cannot pile every read onto the primary. Only a server fault (cannot connect)
    /// takes a replica out of rotation.
    async fn read_avoiding(&self, avoid: Option<&str>) -> Result<(DbConn, Target), DbError> {
        let replicas = &self.inner.replicas;
        let start = self.inner.next_replica.fetch_add(1, Ordering::Relaxed);
        let candidates: Vec<&Replica> = (0..replicas.len())
            .map(|offset| &replicas[(start + offset) % replicas.len()])
            .filter(|r| r.in_rotation() && avoid != Some(&*r.name))
            .collect();
        // First a free connection anywhere in rotation, without waiting; then wait for one on
        // the first replica still in rotation.
        for wait in [false, true] {
            for replica in &candidates {
                if !replica.in_rotation() {
                    continue;
                }
                match replica.pool.checkout_with(&replica.name, wait).await {
                    Ok(conn) => {
                        count_read("replica", "balanced");
                        return Ok((conn, Target::Replica(replica.name.clone())));
                    }
                    Err(DbError::Busy(_)) if !wait => {}
                    Err(DbError::Busy(name)) => return Err(DbError::Busy(name)),
                    Err(error) => replica.suspend(&format!("no connection: {error}")),
                }
                if wait {
                    break;
                }
            }
        }
        if !replicas.is_empty() {
            tracing::warn!("no replica can serve this read; using the primary");
            metrics::counter!("adminql_db_fallback_total", "reason" => "no_replica").increment(1);
        }
        count_read(
            "primary",
            if replicas.is_empty() {
                "no_replicas"
            } else {
                "fallback"
            },
        );
        Ok((self.primary_for_read().await?, Target::Primary))
    }

    /// A primary connection for a read: busy stays busy, any other failure means no database
    /// can serve the read.
    async fn primary_for_read(&self) -> Result<DbConn, DbError> {
        match self.inner.primary.checkout("primary").await {
            Err(DbError::Busy(name)) => Err(DbError::Busy(name)),
            Err(e) => Err(DbError::ReadUnavailable(e.to_string())),
            Ok(conn) => Ok(conn),
        }
    }

    /// A read connection that has seen the write `token` names: a replica that applies it
    /// within `REPLICA_GTID_WAIT`, else the primary.
    pub async fn read_after(&self, token: Option<&Token>) -> Result<(DbConn, Target), DbError> {
        let Some(token) =
            token.filter(|_| self.inner.primary_url.is_some() && !self.inner.replicas.is_empty())
        else {
            return self.read().await;
        };
        let (mut conn, target) = self.read().await?;
        if target == Target::Primary {
            return Ok((conn, target));
        }
        // The wait is the connection's first statement since its checkout, which no longer
        // pings: a hung server must not hang the read, hence the client-side bound.
        let limit = self.inner.config.statement_timeout;
        let caught_up = match &mut conn {
            DbConn::Mysql(c) => tokio::time::timeout(
                limit,
                gtid::wait_for(c, token, self.inner.config.replica_gtid_wait),
            )
            .await
            .unwrap_or_else(|_| {
                Err(diesel::result::Error::QueryBuilderError(
                    format!("no answer within {}", humantime::format_duration(limit)).into(),
                ))
            }),
            DbConn::Sqlite(_) => Ok(true),
        };
        match caught_up {
            Ok(true) => return Ok((conn, target)),
            Ok(false) => {
                metrics::counter!("adminql_db_fallback_total", "reason" => "lagging").increment(1);
            }
            Err(error) => self.broken(conn, &target, &format!("GTID wait failed: {error}")),
        }
        count_read("primary", "consistency");
        Ok((self.primary_for_read().await?, Target::Primary))
    }

    /// Runs a read. If the connection breaks or hangs mid-read, the connection is discarded,
    /// its replica leaves rotation, and the read is retried once on another replica or the
    /// primary.
    pub async fn run_read<'a, T: Send + 'a>(
        &self,
        token: Option<&Token>,
        read: &mut ReadFn<'a, T>,
    ) -> Result<T, DbError> {
        self.run_read_held(None, token, read).await
    }

    /// [`Database::run_read`] on the request's kept connection when it has one free (else a
    /// new checkout, which it then keeps): see [`Held`].
    pub async fn run_read_held<'a, T: Send + 'a>(
        &self,
        held: Option<&Held>,
        token: Option<&Token>,
        read: &mut ReadFn<'a, T>,
    ) -> Result<T, DbError> {
        if let Some((mut conn, target)) = held.and_then(Held::take) {
            match self.attempt(&mut conn, &target, read).await {
                Attempt::Done(result) => {
                    keep(held, conn, target);
                    return result;
                }
                // A kept connection that broke: start over on a new one.
                Attempt::Broken(failure) => self.broken(conn, &target, &failure),
            }
        }
        let (mut conn, target) = self.read_after(token).await?;
        let failure = match self.attempt(&mut conn, &target, read).await {
            Attempt::Done(result) => {
                keep(held, conn, target);
                return result;
            }
            Attempt::Broken(failure) => failure,
        };
        self.broken(conn, &target, &failure);
        tracing::warn!(target = target.label(), %failure, "read failed; retrying once elsewhere");
        metrics::counter!("adminql_db_fallback_total", "reason" => "read_failed").increment(1);
        let (mut conn, target) = match &target {
            Target::Replica(name) => self.read_avoiding(Some(name)).await?,
            Target::Primary => self.read().await?,
        };
        match self.attempt(&mut conn, &target, read).await {
            Attempt::Done(result) => {
                keep(held, conn, target);
                result
            }
            Attempt::Broken(failure) => {
                self.broken(conn, &target, &failure);
                Err(DbError::ReadUnavailable(failure))
            }
        }
    }

    /// A read on the primary (a mutation's auth check and loaders), on the request's kept
    /// connection when it has one. A connection found broken (the primary restarted, and
    /// without a ping per checkout its pooled connections are stale) is replaced once: the
    /// statement only reads, so running it again is safe.
    pub async fn run_primary_read<'a, T: Send + 'a>(
        &self,
        held: Option<&Held>,
        read: &mut ReadFn<'a, T>,
    ) -> Result<T, DbError> {
        let (mut conn, target) = match held.and_then(Held::take) {
            Some(kept) => kept,
            None => self.write().await?,
        };
        for retry in [true, false] {
            match self.attempt(&mut conn, &target, read).await {
                Attempt::Done(result) => {
                    keep(held, conn, target);
                    return result;
                }
                Attempt::Broken(failure) if retry => {
                    self.broken(conn, &target, &failure);
                    conn = self.write().await?.0;
                }
                Attempt::Broken(failure) => {
                    self.broken(conn, &target, &failure);
                    return Err(DbError::PrimaryUnavailable(failure));
                }
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// Runs `read` on `conn` within `DB_STATEMENT_TIMEOUT`, telling a broken or hung
    /// connection apart from an answer (an error from a sound connection is an answer).
    async fn attempt<'a, T: Send + 'a>(
        &self,
        conn: &mut DbConn,
        target: &Target,
        read: &mut ReadFn<'a, T>,
    ) -> Attempt<T> {
        use tracing::Instrument;
        let limit = self.inner.config.statement_timeout;
        let span = tracing::debug_span!("db.read", target = target.label());
        match tokio::time::timeout(limit, read(conn))
            .instrument(span)
            .await
        {
            Ok(Ok(value)) => Attempt::Done(Ok(value)),
            Ok(Err(error)) if !is_connection_error(&error) || ping_ok(conn).await => {
                Attempt::Done(Err(error.into()))
            }
            Ok(Err(error)) => Attempt::Broken(error.to_string()),
            Err(_) => Attempt::Broken(format!(
                "no answer within {}",
                humantime::format_duration(limit)
            )),
        }
    }

    /// A connection that broke: closed instead of recycled, its pool's idle connections
    /// dropped (they likely broke with it), its replica out of rotation.
    fn broken(&self, conn: DbConn, target: &Target, failure: &str) {
        conn.discard();
        self.pool_of(target).drop_idle();
        self.suspend(target, failure);
    }

    fn pool_of(&self, target: &Target) -> &AnyPool {
        match target {
            Target::Replica(name) => self
                .inner
                .replicas
                .iter()
                .find(|r| r.name == *name)
                .map_or(&self.inner.primary, |r| &r.pool),
            Target::Primary => &self.inner.primary,
        }
    }

    fn suspend(&self, target: &Target, reason: &str) {
        if let Target::Replica(name) = target
            && let Some(replica) = self.inner.replicas.iter().find(|r| r.name == *name)
        {
            replica.suspend(reason);
        }
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

enum Attempt<T> {
    Done(Result<T, DbError>),
    Broken(String),
}

fn keep(held: Option<&Held>, conn: DbConn, target: Target) {
    if let Some(held) = held {
        held.put(conn, target);
    }
}

fn count_read(target: &'static str, reason: &'static str) {
    metrics::counter!("adminql_db_reads_total", "target" => target, "reason" => reason)
        .increment(1);
}

/// Errors that may mean the connection itself broke (diesel-async reports I/O failures as
/// `Unknown` database errors); confirmed by a ping before a read is retried.
fn is_connection_error(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown
                | diesel::result::DatabaseErrorKind::ClosedConnection
                | diesel::result::DatabaseErrorKind::UnableToSendCommand,
            _
        )
    )
}

async fn ping_ok(conn: &mut DbConn) -> bool {
    matches!(
        tokio::time::timeout(std::time::Duration::from_millis(500), ping(conn)).await,
        Ok(Ok(()))
    )
}

/// `SELECT 1` on a connection.
pub async fn ping(conn: &mut DbConn) -> diesel::QueryResult<()> {
    use diesel_async::RunQueryDsl;
    db_run!(conn: {
        diesel::sql_query("SELECT 1").execute(conn).await.map(|_| ())
    })
}
