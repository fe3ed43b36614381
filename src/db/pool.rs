//! Pool construction and per-session setup for each backend.
//!
//! Setup runs once per new connection (deadpool's manager setup), so every pooled session
//! carries its timeouts, time zone and, on replicas, read-only mode.

use std::path::Path;
use std::time::Duration;

use diesel::ConnectionError;
use diesel::sql_types::Text;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl, SimpleAsyncConnection};
use secrecy::{ExposeSecret, SecretString};

use super::SqliteConn;
use super::connect::connect_mysql;
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
) -> anyhow::Result<Pool<AsyncMysqlConnection>> {
    let connect_timeout = config.connect_timeout;
    let statement_timeout = config.statement_timeout;
    let tls = config.tls.clone();
    let mut manager = ManagerConfig::default();
    manager.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        let tls = tls.clone();
        Box::pin(async move {
            let mut conn = connect_mysql(&url, &tls, connect_timeout).await?;
            setup_mysql_session(&mut conn, kind, statement_timeout)
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    // Verified recycling pings before handing out a connection, so a server restart costs a
    // reconnect instead of a failed request.
    manager.recycling_method = RecyclingMethod::Verified;
    let manager =
        AsyncDieselConnectionManager::new_with_config(url.expose_secret().to_owned(), manager);
    build(manager, config.pool_size, config)
}

async fn setup_mysql_session(
    conn: &mut AsyncMysqlConnection,
    kind: PoolKind,
    statement_timeout: Duration,
) -> diesel::QueryResult<()> {
    let version: String = diesel::select(diesel::dsl::sql::<Text>("VERSION()"))
        .get_result(conn)
        .await?;
    // MariaDB takes seconds for every statement; MySQL takes milliseconds and caps SELECTs only.
    let timeout = if super::gtid::detect_flavor(&version) == super::gtid::Flavor::MariaDb {
        format!(
            "SET SESSION max_statement_time = {}",
            statement_timeout.as_secs_f64()
        )
    } else {
        format!(
            "SET SESSION max_execution_time = {}",
            statement_timeout.as_millis()
        )
    };
    conn.batch_execute(&timeout).await?;
    conn.batch_execute("SET SESSION time_zone = '+00:00'")
        .await?;
    if kind == PoolKind::Replica {
        conn.batch_execute("SET SESSION TRANSACTION READ ONLY")
            .await?;
    }
    Ok(())
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
    build(manager, size, config)
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

fn build<C>(
    manager: AsyncDieselConnectionManager<C>,
    size: usize,
    config: &DatabaseConfig,
) -> anyhow::Result<Pool<C>>
where
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
{
    Ok(Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(config.acquire_timeout))
        .create_timeout(Some(config.connect_timeout + Duration::from_secs(1)))
        .recycle_timeout(Some(config.connect_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()?)
}
