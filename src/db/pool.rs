//! Pool construction and per-session setup for each backend.
//!
//! Setup runs once per new connection (deadpool's manager setup), so every pooled session
//! carries its timeouts, time zone and, on replicas, read-only mode.

use std::path::Path;
use std::time::Duration;

use diesel::ConnectionError;
use diesel::sql_types::Text;
use diesel_async::pooled_connection::deadpool::{Hook, HookError, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl, SimpleAsyncConnection};
use secrecy::{ExposeSecret, SecretString};

use super::SqliteConn;
use super::connect::connect_mysql;
use super::gtid::{Flavor, FlavorCell};
use crate::config::DatabaseConfig;

/// What a pool is for; replica pools get read-only sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Primary,
    Replica,
}

pub(super) fn mysql(
    url: &SecretString,
    config: &DatabaseConfig,
    kind: PoolKind,
    flavor: &FlavorCell,
) -> anyhow::Result<Pool<AsyncMysqlConnection>> {
    mysql_pinging_after(url, config, kind, flavor, IDLE_PING_AFTER)
}

/// [`mysql`], pinging a connection idle for `idle_ping_after` before it is handed out (a
/// test's own threshold; the service uses [`IDLE_PING_AFTER`]).
fn mysql_pinging_after(
    url: &SecretString,
    config: &DatabaseConfig,
    kind: PoolKind,
    flavor: &FlavorCell,
    idle_ping_after: Duration,
) -> anyhow::Result<Pool<AsyncMysqlConnection>> {
    let flavor = flavor.clone();
    let connect_timeout = config.connect_timeout;
    let statement_timeout = config.statement_timeout;
    let tls = config.tls.clone();
    let mut manager = ManagerConfig::default();
    manager.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        let tls = tls.clone();
        let flavor = flavor.clone();
        Box::pin(async move {
            let mut conn = connect_mysql(&url, &tls, connect_timeout).await?;
            setup_mysql_session(&mut conn, kind, statement_timeout, &flavor)
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    // No round trip per checkout: a ping on every checkout was a statement per request on
    // the servers. Only a connection idle long enough for the server to have dropped it
    // (`wait_timeout`, a restart) is pinged first; a connection that breaks in use is found
    // by the error path (retried elsewhere, its pool's idle connections dropped), and the
    // monitor drops a pool's idle connections when its server comes back.
    manager.recycling_method = RecyclingMethod::Fast;
    let manager =
        AsyncDieselConnectionManager::new_with_config(url.expose_secret().to_owned(), manager);
    build(manager, config.pool_size, config, |builder| {
        builder.pre_recycle(Hook::async_fn(
            move |conn: &mut AsyncMysqlConnection, metrics| {
                Box::pin(async move {
                    if metrics.last_used() < idle_ping_after {
                        return Ok(());
                    }
                    diesel::sql_query("SELECT 1")
                        .execute(conn)
                        .await
                        .map(|_| ())
                        .map_err(|e| HookError::message(format!("idle connection is gone: {e}")))
                })
            },
        ))
    })
}

/// A pooled MySQL connection unused for this long is pinged before it is handed out.
pub const IDLE_PING_AFTER: Duration = Duration::from_secs(30);

async fn setup_mysql_session(
    conn: &mut AsyncMysqlConnection,
    kind: PoolKind,
    statement_timeout: Duration,
    flavor: &FlavorCell,
) -> diesel::QueryResult<()> {
    let version: String = diesel::select(diesel::dsl::sql::<Text>("VERSION()"))
        .get_result(conn)
        .await?;
    flavor.learn(&version);
    let this_server = Flavor::of_version(&version);
    for statement in session_setup_sql(this_server, kind, statement_timeout) {
        conn.batch_execute(&statement).await?;
    }
    Ok(())
}

/// What a new MySQL session runs before the pool hands it out: the statement timeout,
/// UTC, and read-only mode on replicas. MariaDB takes seconds for every statement; MySQL
/// takes milliseconds and caps SELECTs only.
fn session_setup_sql(flavor: Flavor, kind: PoolKind, statement_timeout: Duration) -> Vec<String> {
    let timeout = match flavor {
        Flavor::MariaDb => format!(
            "SET SESSION max_statement_time = {}",
            statement_timeout.as_secs_f64()
        ),
        Flavor::Mysql => format!(
            "SET SESSION max_execution_time = {}",
            statement_timeout.as_millis()
        ),
    };
    let mut statements = vec![timeout, "SET SESSION time_zone = '+00:00'".to_owned()];
    if kind == PoolKind::Replica {
        statements.push("SET SESSION TRANSACTION READ ONLY".to_owned());
    }
    statements
}

pub(super) fn sqlite(
    path: &Path,
    config: &DatabaseConfig,
    kind: PoolKind,
) -> anyhow::Result<Pool<SqliteConn>> {
    let busy_ms = config.statement_timeout.as_millis();
    let mut manager = ManagerConfig::default();
    manager.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        Box::pin(async move {
            let mut conn = SqliteConn::establish(&url).await?;
            conn.batch_execute(&sqlite_pragmas(busy_ms, kind))
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    manager.recycling_method = RecyclingMethod::Fast;
    let url = path
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("DATABASE_URL: the SQLite path is not valid UTF-8"))?;
    let manager = AsyncDieselConnectionManager::new_with_config(url, manager);
    let size = match kind {
        PoolKind::Primary => 1,
        PoolKind::Replica => config.pool_size,
    };
    build(manager, size, config, |builder| builder)
}

/// Session settings for a SQLite connection; readers are `query_only` so writes fail loudly.
pub fn sqlite_pragmas(busy_ms: u128, kind: PoolKind) -> String {
    let mut pragmas = format!(
        "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
    );
    if kind == PoolKind::Replica {
        pragmas.push_str(" PRAGMA query_only = ON;");
    }
    pragmas
}

type Builder<C> = deadpool::managed::PoolBuilder<
    AsyncDieselConnectionManager<C>,
    deadpool::managed::Object<AsyncDieselConnectionManager<C>>,
>;

fn build<C>(
    manager: AsyncDieselConnectionManager<C>,
    size: usize,
    config: &DatabaseConfig,
    hooks: impl FnOnce(Builder<C>) -> Builder<C>,
) -> anyhow::Result<Pool<C>>
where
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
{
    Ok(hooks(Pool::builder(manager))
        .max_size(size)
        .wait_timeout(Some(config.acquire_timeout))
        .create_timeout(Some(config.connect_timeout + Duration::from_secs(1)))
        .recycle_timeout(Some(config.connect_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// MySQL 8 runs against no server here (README): its session set-up is checked as text.
    #[test]
    fn session_setup_per_flavor_and_kind() {
        let timeout = Duration::from_millis(2500);
        assert_eq!(
            session_setup_sql(Flavor::MariaDb, PoolKind::Primary, timeout),
            [
                "SET SESSION max_statement_time = 2.5",
                "SET SESSION time_zone = '+00:00'"
            ]
        );
        assert_eq!(
            session_setup_sql(Flavor::Mysql, PoolKind::Primary, timeout),
            [
                "SET SESSION max_execution_time = 2500",
                "SET SESSION time_zone = '+00:00'"
            ]
        );
        assert_eq!(
            session_setup_sql(Flavor::Mysql, PoolKind::Replica, Duration::from_secs(5)),
            [
                "SET SESSION max_execution_time = 5000",
                "SET SESSION time_zone = '+00:00'",
                "SET SESSION TRANSACTION READ ONLY"
            ]
        );
        assert_eq!(
            session_setup_sql(Flavor::MariaDb, PoolKind::Replica, Duration::from_secs(5))[0],
            "SET SESSION max_statement_time = 5"
        );
    }

    async fn connection_id(conn: &mut AsyncMysqlConnection) -> diesel::QueryResult<i64> {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "CAST(CONNECTION_ID() AS SIGNED)",
        ))
        .get_result(conn)
        .await
    }

    /// For each idle connection of `pool`, the time since it was last handed out: what the
    /// idle ping goes by.
    fn idle_for(pool: &Pool<AsyncMysqlConnection>) -> Vec<Duration> {
        let mut idle = Vec::new();
        pool.retain(|_, metrics| {
            idle.push(metrics.last_used());
            true
        });
        idle
    }

    /// A pooled connection that sat idle past the threshold while the server dropped it
    /// (`KILL`, as `wait_timeout` or a restart would) is pinged at checkout and replaced: the
    /// caller gets a working connection. One idle for less is handed out unpinged: there is
    /// no round trip per checkout, and a broken one is left to the error path.
    #[tokio::test(flavor = "multi_thread")]
    async fn an_idle_connection_the_server_dropped_is_replaced_at_checkout() {
        let server = tokio::task::spawn_blocking(|| {
            mariadb_cluster::Builder::new()
                .password("pool-test-pw")
                .start_standalone("primary")
        })
        .await
        .unwrap()
        .expect("MariaDB starts");
        server.create_app_database("app").unwrap();
        let url = server.url("app", "app");
        let lookup = url.clone();
        let config = Config::from_lookup(move |k| match k {
            "DATABASE_URL" => Some(lookup.clone()),
            "JWT_SECRET" => Some("pool-test-secret-0123456789abcdef".into()),
            _ => None,
        })
        .expect("config")
        .database;
        let url = SecretString::from(url);
        let threshold = Duration::from_millis(200);
        let pool = |after| {
            mysql_pinging_after(
                &url,
                &config,
                PoolKind::Primary,
                &FlavorCell::default(),
                after,
            )
            .unwrap()
        };
        // Kills `pool`'s one connection on the server; returns its id once it is gone there.
        let kill_the_idle_one = |pool: Pool<AsyncMysqlConnection>| {
            let server = &server;
            async move {
                let mut conn = pool.get().await.unwrap();
                let id = connection_id(&mut conn).await.unwrap();
                drop(conn);
                server.sql(&format!("KILL {id}")).unwrap();
                let gone = format!(
                    "SELECT COUNT(*) = 0 FROM information_schema.PROCESSLIST WHERE ID = {id}"
                );
                let deadline = std::time::Instant::now() + Duration::from_secs(30);
                while server.number(&gone).unwrap() == 0 {
                    assert!(std::time::Instant::now() < deadline, "KILL {id} never took");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                id
            }
        };

        let pinging = pool(threshold);
        let killed = kill_the_idle_one(pinging.clone()).await;
        while idle_for(&pinging).iter().any(|idle| *idle <= threshold) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut conn = pinging.get().await.expect("a checkout");
        let id = connection_id(&mut conn)
            .await
            .expect("the connection handed out works");
        assert_ne!(id, killed, "a new connection replaced the dropped one");

        // The contrast: idle for less than the threshold, the dropped connection is handed out
        // as it is.
        let unpinged = pool(Duration::from_secs(3600));
        kill_the_idle_one(unpinged.clone()).await;
        let mut conn = unpinged.get().await.expect("a checkout");
        assert!(
            connection_id(&mut conn).await.is_err(),
            "no ping: the dropped connection is handed out"
        );
    }
}
