//! The data layer: connection pools, routing of reads and writes, and the one-body-per-query
//! dispatch over MySQL and SQLite.
//!
//! Callers state their intent and [`Database`] owns the policy:
//! - [`Database::write`] always hands out a primary connection;
//! - [`Database::read`] hands out a replica connection (round-robin over the replicas in
//!   rotation), falling back to the primary with a `warn!` and a counter when none can serve.
//!
//! Repository functions take `&mut DbConn` and return [`diesel::QueryResult`]; their body is
//! written once inside [`db_run!`] and compiled for each backend. Whoever owns the unit of
//! work opens the transaction with [`DbConn::transaction`].
//!
//! Replica sessions are read-only (set in the pool's connection setup), so a write routed to
//! the wrong pool fails loudly instead of diverging the replica.

pub mod migrate;
mod pool;
pub mod schema;
pub mod sql;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use diesel::SqliteConnection;
use diesel_async::AsyncMysqlConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, TransactionManager};
use scoped_futures::ScopedBoxFuture;

use crate::config::{DatabaseConfig, DatabaseUrl};

pub use pool::PoolKind;

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// Runs `$body` with `$conn` rebound to the concrete connection of whichever backend `$conn`
/// (a `&mut DbConn`) holds. The body is compiled once per backend.
#[macro_export]
macro_rules! db_run {
    ($conn:ident: $body:block) => {
        match $conn {
            $crate::db::DbConn::Mysql(__obj) => {
                let $conn: &mut ::diesel_async::AsyncMysqlConnection = &mut *__obj;
                $body
            }
            $crate::db::DbConn::Sqlite(__obj) => {
                let $conn: &mut $crate::db::SqliteConn = &mut *__obj;
                $body
            }
        }
    };
}

/// Inserts `$rows` (a `Vec` of value tuples) into `$table` and returns `QueryResult<()>`.
///
/// The one place the backends differ in a repository body: MySQL takes a multi-row
/// `INSERT`, while diesel's SQLite batch insert is not available through the async wrapper,
/// so SQLite gets one `INSERT` per row (inside the caller's transaction, so still atomic).
#[macro_export]
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr) => {{
        use ::diesel_async::RunQueryDsl as _;
        let rows = $rows;
        match $conn {
            _ if rows.is_empty() => Ok(()),
            $crate::db::DbConn::Mysql(c) => ::diesel::insert_into($table)
                .values(rows)
                .execute(&mut **c)
                .await
                .map(|_| ()),
            $crate::db::DbConn::Sqlite(c) => {
                let mut result = Ok(());
                for row in rows {
                    if let Err(e) = ::diesel::insert_into($table)
                        .values(row)
                        .execute(&mut **c)
                        .await
                    {
                        result = Err(e);
                        break;
                    }
                }
                result
            }
        }
    }};
}

/// A pooled connection to one of the backends.
pub enum DbConn {
    Mysql(Object<AsyncMysqlConnection>),
    Sqlite(Object<SqliteConn>),
}

impl DbConn {
    /// Runs `f` inside a transaction: committed when it returns `Ok`, rolled back otherwise.
    ///
    /// If the future is dropped half-way the connection stays marked as in a transaction,
    /// and the pool discards it instead of recycling it.
    pub async fn transaction<'a, T, E, F>(&'a mut self, f: F) -> Result<T, E>
    where
        F: for<'r> FnOnce(&'r mut DbConn) -> ScopedBoxFuture<'a, 'r, Result<T, E>> + Send + 'a,
        E: From<diesel::result::Error> + Send + 'a,
        T: Send + 'a,
    {
        match self {
            DbConn::Mysql(c) => begin(&mut **c).await?,
            DbConn::Sqlite(c) => begin(&mut **c).await?,
        }
        let result = f(self).await;
        let commit = result.is_ok();
        let end = match self {
            DbConn::Mysql(c) => finish(&mut **c, commit).await,
            DbConn::Sqlite(c) => finish(&mut **c, commit).await,
        };
        match result {
            Ok(v) => end.map(|()| v).map_err(E::from),
            Err(e) => {
                if let Err(rollback) = end {
                    tracing::warn!(error = %rollback, "rollback failed; connection will be discarded");
                }
                Err(e)
            }
        }
    }

    pub fn is_mysql(&self) -> bool {
        matches!(self, DbConn::Mysql(_))
    }
}

async fn begin<C: AsyncConnection>(conn: &mut C) -> diesel::QueryResult<()> {
    C::TransactionManager::begin_transaction(conn).await
}

async fn finish<C: AsyncConnection>(conn: &mut C, commit: bool) -> diesel::QueryResult<()> {
    if commit {
        C::TransactionManager::commit_transaction(conn).await
    } else {
        C::TransactionManager::rollback_transaction(conn).await
    }
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
    #[error("no database can serve reads: {0}")]
    ReadUnavailable(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

#[derive(Clone)]
enum AnyPool {
    Mysql(Pool<AsyncMysqlConnection>),
    Sqlite(Pool<SqliteConn>),
}

impl AnyPool {
    async fn get(&self) -> Result<DbConn, String> {
        match self {
            AnyPool::Mysql(p) => p.get().await.map(DbConn::Mysql),
            AnyPool::Sqlite(p) => p.get().await.map(DbConn::Sqlite),
        }
        .map_err(|e| e.to_string())
    }

    fn status(&self) -> deadpool::Status {
        match self {
            AnyPool::Mysql(p) => p.status(),
            AnyPool::Sqlite(p) => p.status(),
        }
    }

    fn close(&self) {
        match self {
            AnyPool::Mysql(p) => p.close(),
            AnyPool::Sqlite(p) => p.close(),
        }
    }
}

/// One read replica and whether it currently takes reads.
pub struct Replica {
    pub name: Arc<str>,
    pool: AnyPool,
    in_rotation: AtomicBool,
}

impl Replica {
    pub fn in_rotation(&self) -> bool {
        self.in_rotation.load(Ordering::Relaxed)
    }

    pub fn set_in_rotation(&self, value: bool) {
        self.in_rotation.store(value, Ordering::Relaxed);
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
    replicas: Vec<Replica>,
    next_replica: AtomicUsize,
}

/// The primary pool and the replica set. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

impl Database {
    /// Builds the pools. No connection is opened here; use [`Database::check_primary`]
    /// to find out whether the primary answers.
    pub fn new(config: &DatabaseConfig) -> anyhow::Result<Self> {
        let (primary, replicas) = match &config.primary {
            DatabaseUrl::Sqlite(path) => {
                // SQLite allows one writer at a time: one write connection avoids SQLITE_BUSY
                // on lock upgrades, and a read-only pool serves reads concurrently (WAL).
                let writer = pool::sqlite(path, config, PoolKind::Primary)?;
                let readers = pool::sqlite(path, config, PoolKind::Replica)?;
                let local = Replica {
                    name: Arc::from("sqlite-readers"),
                    pool: AnyPool::Sqlite(readers),
                    in_rotation: AtomicBool::new(true),
                };
                (AnyPool::Sqlite(writer), vec![local])
            }
            DatabaseUrl::Mysql(url) => {
                let primary = AnyPool::Mysql(pool::mysql(url, config, PoolKind::Primary)?);
                let mut replicas = Vec::new();
                for (i, replica) in config.replicas.iter().enumerate() {
                    let DatabaseUrl::Mysql(url) = replica else {
                        anyhow::bail!("replica {i} is not a mysql:// URL");
                    };
                    replicas.push(Replica {
                        name: Arc::from(format!("replica-{i}")),
                        pool: AnyPool::Mysql(pool::mysql(url, config, PoolKind::Replica)?),
                        in_rotation: AtomicBool::new(true),
                    });
                }
                (primary, replicas)
            }
        };
        Ok(Database {
            inner: Arc::new(Inner {
                primary,
                replicas,
                next_replica: AtomicUsize::new(0),
            }),
        })
    }

    /// A primary connection, for writes and reads that must be current.
    pub async fn write(&self) -> Result<(DbConn, Target), DbError> {
        let conn = self
            .inner
            .primary
            .get()
            .await
            .map_err(DbError::PrimaryUnavailable)?;
        Ok((conn, Target::Primary))
    }

    /// A connection for reads: a replica in rotation when there is one, else the primary.
    pub async fn read(&self) -> Result<(DbConn, Target), DbError> {
        let replicas = &self.inner.replicas;
        let start = self.inner.next_replica.fetch_add(1, Ordering::Relaxed);
        for offset in 0..replicas.len() {
            let replica = &replicas[(start + offset) % replicas.len()];
            if !replica.in_rotation() {
                continue;
            }
            match replica.pool.get().await {
                Ok(conn) => {
                    metrics::counter!("adminql_db_reads_total", "target" => "replica", "reason" => "balanced")
                        .increment(1);
                    return Ok((conn, Target::Replica(replica.name.clone())));
                }
                Err(error) => {
                    tracing::warn!(replica = %replica.name, %error, "replica connection failed; trying the next one");
                }
            }
        }
        if !replicas.is_empty() {
            tracing::warn!("no replica could serve a read; using the primary");
            metrics::counter!("adminql_db_fallback_total", "reason" => "no_replica").increment(1);
        }
        metrics::counter!("adminql_db_reads_total", "target" => "primary", "reason" => "fallback")
            .increment(1);
        match self.inner.primary.get().await {
            Ok(conn) => Ok((conn, Target::Primary)),
            Err(e) => Err(DbError::ReadUnavailable(e)),
        }
    }

    /// The replica set, for the health monitor and status reports.
    pub fn replicas(&self) -> &[Replica] {
        &self.inner.replicas
    }

    /// Opens a primary connection and runs a trivial statement.
    pub async fn check_primary(&self) -> Result<(), DbError> {
        let (mut conn, _) = self.write().await?;
        ping(&mut conn)
            .await
            .map_err(|e| DbError::PrimaryUnavailable(e.to_string()))
    }

    /// Whether a replica (or, failing that, the primary) can serve a read right now.
    pub async fn check_replica(&self, replica: &Replica) -> Result<(), String> {
        let mut conn = replica.pool.get().await?;
        ping(&mut conn).await.map_err(|e| e.to_string())
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
        let mut out = vec![state("primary", "primary", &self.inner.primary, true)];
        for r in &self.inner.replicas {
            out.push(state(&r.name, "replica", &r.pool, r.in_rotation()));
        }
        out
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
