//! The minimum's connection pools: mysql_async connections with adminql's session settings,
//! at most `size` per server, one checkout per request, no liveness ping on checkout, and
//! prepared statements kept per connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Row, Statement, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections to one server, at most `size` of them.
pub struct Pool {
    opts: Opts,
    idle: Mutex<Vec<Cached>>,
    permits: Arc<Semaphore>,
}

/// A connection and its prepared statements.
pub struct Cached {
    conn: Conn,
    statements: HashMap<String, Statement>,
}

/// A checked-out connection; back to the pool on drop.
pub struct Checkout<'a> {
    pool: &'a Pool,
    cached: Option<Cached>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        if let Some(cached) = self.cached.take() {
            self.pool.idle.lock().expect("pool lock").push(cached);
        }
    }
}

impl Checkout<'_> {
    pub fn conn(&mut self) -> &mut Cached {
        self.cached.as_mut().expect("checked out")
    }
}

impl Pool {
    pub fn new(url: &str, size: usize, read_only: bool) -> anyhow::Result<Pool> {
        // adminql's session guarantees (src/db/pool.rs), set once per connection: UTC,
        // utf8mb4, its default DB_STATEMENT_TIMEOUT (which makes MariaDB arm a timer for every
        // statement), and read-only sessions on the replica.
        let mut init =
            vec!["SET time_zone = '+00:00', NAMES utf8mb4, SESSION max_statement_time = 5"];
        if read_only {
            init.push("SET SESSION TRANSACTION READ ONLY");
        }
        let opts = OptsBuilder::from_opts(Opts::from_url(url)?)
            .init(init)
            .stmt_cache_size(0)
            .client_found_rows(true);
        Ok(Pool {
            opts: opts.into(),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size)),
        })
    }

    /// A connection, without a round trip if one is idle: a broken one shows as the error of
    /// the request's first statement (the benchmark restarts no server).
    pub async fn get(&self) -> Result<Checkout<'_>, String> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let idle = self.idle.lock().expect("pool lock").pop();
        let cached = match idle {
            Some(c) => c,
            None => Cached {
                conn: Conn::new(self.opts.clone())
                    .await
                    .map_err(|e| format!("connect: {e}"))?,
                statements: HashMap::new(),
            },
        };
        Ok(Checkout {
            pool: self,
            cached: Some(cached),
            _permit: permit,
        })
    }

    pub async fn close(&self) {
        let conns: Vec<Cached> = std::mem::take(&mut *self.idle.lock().expect("pool lock"));
        for c in conns {
            let _ = c.conn.disconnect().await;
        }
    }
}

impl Cached {
    async fn statement(&mut self, sql: &str) -> Result<Statement, String> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self
            .conn
            .prep(sql)
            .await
            .map_err(|e| format!("prepare: {e}"))?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    pub async fn exec_first(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<Option<Row>, String> {
        let stmt = self.statement(sql).await?;
        self.conn
            .exec_first(&stmt, Params::Positional(params))
            .await
            .map_err(|e| format!("{sql}: {e}"))
    }

    pub async fn exec(&mut self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, String> {
        let stmt = self.statement(sql).await?;
        self.conn
            .exec(&stmt, Params::Positional(params))
            .await
            .map_err(|e| format!("{sql}: {e}"))
    }

    /// A statement that returns no rows; its affected-row count.
    pub async fn exec_drop(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, String> {
        let stmt = self.statement(sql).await?;
        self.conn
            .exec_drop(&stmt, Params::Positional(params))
            .await
            .map_err(|e| format!("{sql}: {e}"))?;
        Ok(self.conn.affected_rows())
    }

    pub async fn query(&mut self, sql: &'static str) -> Result<(), String> {
        self.conn
            .query_drop(sql)
            .await
            .map_err(|e| format!("{sql}: {e}"))
    }
}

/// One pool per server: writes on the primary, reads on the replica.
pub struct Pools {
    pub primary: Arc<Pool>,
    pub replica: Arc<Pool>,
}

impl Pools {
    /// Pools of `size` connections to the primary at `primary_url` and the replica at
    /// `replica_url` (read-only sessions).
    pub fn new(primary_url: &str, replica_url: &str, size: usize) -> anyhow::Result<Pools> {
        Ok(Pools {
            primary: Arc::new(Pool::new(primary_url, size, false)?),
            replica: Arc::new(Pool::new(replica_url, size, true)?),
        })
    }

    pub async fn close(&self) {
        self.primary.close().await;
        self.replica.close().await;
    }
}
