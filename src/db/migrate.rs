//! Embedded migrations, one set per backend (`migrations/mysql`, `migrations/sqlite`).
//!
//! On MySQL the run holds an advisory lock (`GET_LOCK`), so pods starting together, or a
//! migration job racing an init container, apply each migration exactly once.

use diesel::migration::MigrationSource;
use diesel::sql_types::{Integer, Nullable};
use diesel::{Connection, SqliteConnection};
use diesel_async::{AsyncMigrationHarness, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::ExposeSecret;

use super::connect::connect_mysql;
use super::pool::{PoolKind, sqlite_pragmas};
use crate::config::{DatabaseConfig, DatabaseUrl};

const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// How long to wait for another process's migration run to finish.
const LOCK_WAIT_SECONDS: i32 = 120;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Applies pending migrations to the primary; returns the versions applied.
///
/// Needs the multi-threaded tokio runtime (the MySQL harness blocks in place).
pub async fn run(config: &DatabaseConfig) -> anyhow::Result<Vec<String>> {
    let applied = match &config.primary {
        DatabaseUrl::Mysql(url) => {
            let mut conn =
                connect_mysql(url.expose_secret(), &config.tls, config.connect_timeout).await?;
            let locked: Option<i32> = diesel::select(diesel::dsl::sql::<Nullable<Integer>>(
                &format!("GET_LOCK('adminql_migrations', {LOCK_WAIT_SECONDS})"),
            ))
            .get_result(&mut conn)
            .await?;
            if locked != Some(1) {
                anyhow::bail!(
                    "another migration run held the lock for {LOCK_WAIT_SECONDS}s; try again"
                );
            }
            let mut harness = AsyncMigrationHarness::new(conn);
            let result = harness.run_pending_migrations(MYSQL).map(versions);
            let mut conn = harness.into_inner();
            conn.batch_execute("DO RELEASE_LOCK('adminql_migrations')")
                .await?;
            result.map_err(|e: BoxError| anyhow::anyhow!(e))?
        }
        DatabaseUrl::Sqlite(path) => {
            let path = path.clone();
            let busy_ms = config.statement_timeout.as_millis();
            tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
                let mut conn = SqliteConnection::establish(sqlite_url(&path)?)?;
                diesel::connection::SimpleConnection::batch_execute(
                    &mut conn,
                    &sqlite_pragmas(busy_ms, PoolKind::Primary),
                )?;
                conn.run_pending_migrations(SQLITE)
                    .map(versions)
                    .map_err(|e: BoxError| anyhow::anyhow!(e))
            })
            .await??
        }
    };
    Ok(applied)
}

/// How a database's applied migrations compare with the ones this build embeds.
#[derive(Debug, Default)]
pub struct SchemaState {
    pub applied: usize,
    /// Embedded, not applied yet (`adminql migrate` would apply them).
    pub pending: Vec<String>,
    /// Applied, but unknown to this build: the database was migrated by a newer adminql.
    pub unknown: Vec<String>,
}

impl SchemaState {
    /// The database is at exactly the schema this build expects.
    pub fn current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty()
    }
}

/// Compares the primary's applied migrations with this build's, changing nothing.
pub async fn check(config: &DatabaseConfig) -> anyhow::Result<SchemaState> {
    let (known, applied) = match &config.primary {
        DatabaseUrl::Mysql(url) => {
            let mut conn =
                connect_mysql(url.expose_secret(), &config.tls, config.connect_timeout).await?;
            let rows = diesel::sql_query(APPLIED).load::<Applied>(&mut conn).await;
            (embedded::<diesel::mysql::Mysql>(&MYSQL)?, applied(rows)?)
        }
        DatabaseUrl::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                // Opening creates a missing file: a mistyped path would report an empty
                // database with every migration pending and leave that file behind.
                if !path.exists() {
                    anyhow::bail!("DATABASE_URL: {} does not exist", path.display());
                }
                let mut conn = SqliteConnection::establish(sqlite_url(&path)?)?;
                let rows =
                    diesel::RunQueryDsl::load::<Applied>(diesel::sql_query(APPLIED), &mut conn);
                Ok((embedded::<diesel::sqlite::Sqlite>(&SQLITE)?, applied(rows)?))
            })
            .await??
        }
    };
    Ok(SchemaState {
        applied: applied.len(),
        pending: known
            .iter()
            .filter(|v| !applied.contains(v))
            .cloned()
            .collect(),
        unknown: applied
            .iter()
            .filter(|v| !known.contains(v))
            .cloned()
            .collect(),
    })
}

fn embedded<DB: diesel::backend::Backend>(
    source: &EmbeddedMigrations,
) -> anyhow::Result<Vec<String>>
where
    EmbeddedMigrations: MigrationSource<DB>,
{
    Ok(MigrationSource::<DB>::migrations(source)
        .map_err(|e| anyhow::anyhow!(e))?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect())
}

/// diesel's record of applied migrations, read without creating it (its harness would).
const APPLIED: &str = "SELECT version FROM __diesel_schema_migrations";

#[derive(diesel::QueryableByName)]
struct Applied {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// The versions read by [`APPLIED`]; none when the record does not exist yet.
fn sqlite_url(path: &std::path::Path) -> anyhow::Result<&str> {
    path.to_str()
        .ok_or_else(|| anyhow::anyhow!("DATABASE_URL: the SQLite path is not valid UTF-8"))
}

fn applied(rows: diesel::QueryResult<Vec<Applied>>) -> anyhow::Result<Vec<String>> {
    match rows {
        Ok(rows) => Ok(rows.into_iter().map(|r| r.version).collect()),
        Err(e)
            if e.to_string().contains("doesn't exist")
                || e.to_string().contains("no such table") =>
        {
            Ok(Vec::new())
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether anything accepts connections at the primary's address. A refused, unresolved or
/// silent address is a primary that is down, and so, from here, is a mistyped host; a
/// primary that answers but cannot be migrated (credentials, a failing migration, a held
/// lock) is not down.
pub async fn primary_listens(config: &DatabaseConfig) -> bool {
    let DatabaseUrl::Mysql(url) = &config.primary else {
        return true;
    };
    let Some(addr) = url::Url::parse(url.expose_secret())
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port().unwrap_or(3306))))
    else {
        return true;
    };
    matches!(
        tokio::time::timeout(config.connect_timeout, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// For a start while the primary cannot be reached: the first replica that has applied
/// every migration this binary embeds, redacted. Reads can then be served from it (the
/// schema is the one this build expects) and writes wait for the primary.
pub async fn replica_with_every_migration(config: &DatabaseConfig) -> anyhow::Result<String> {
    let expected = embedded::<diesel::mysql::Mysql>(&MYSQL)?;
    let mut reasons = Vec::new();
    for replica in &config.replicas {
        let DatabaseUrl::Mysql(url) = replica else {
            continue;
        };
        let applied = async {
            let mut conn =
                connect_mysql(url.expose_secret(), &config.tls, config.connect_timeout).await?;
            applied(diesel::sql_query(APPLIED).load(&mut conn).await)
        }
        .await;
        match applied {
            Ok(applied) => match expected.iter().find(|v| !applied.contains(v)) {
                None => return Ok(replica.redacted()),
                Some(missing) => {
                    reasons.push(format!("{} lacks migration {missing}", replica.redacted()));
                }
            },
            Err(e) => reasons.push(format!("{}: {e:#}", replica.redacted())),
        }
    }
    if reasons.is_empty() {
        anyhow::bail!("no replica is configured (DATABASE_REPLICA_URLS)");
    }
    anyhow::bail!("no replica has every migration: {}", reasons.join("; "))
}

fn versions(list: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}
