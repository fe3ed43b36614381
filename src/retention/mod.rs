//! Retention: deletes audit rows older than `AUDIT_LOG_RETENTION` and refresh tokens
//! `REFRESH_TOKEN_RETENTION` past their expiry or revocation, so neither table grows
//! forever.
//!
//! A background task ([`spawn`], started by `serve`) runs a pass at start and then every
//! `RETENTION_INTERVAL`. A pass works on the primary, in batches of at most
//! `RETENTION_BATCH_SIZE` rows, each its own short autocommit `DELETE` with a pause after it,
//! so that replicas apply each batch quickly and requests get the tables in between. With
//! MySQL, a pass holds the advisory lock `adminql_retention.<database>` (`GET_LOCK`, no wait): one pod
//! prunes, the others skip that pass. SQLite has one process and needs no lock; there the
//! single write connection is taken per batch, not for the whole pass.
//!
//! Metrics: `adminql_retention_pruned_rows_total{table}`; a pass that pruned something logs
//! one line with the counts.

pub mod repo;

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use crate::config::RetentionConfig;
use crate::db::{Database, DbConn, DbError};

/// Breathing room between two batches of one pass.
const BATCH_PAUSE: Duration = Duration::from_millis(50);

/// What one table lost in a pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub rows: usize,
    /// `DELETE` statements that removed rows (each at most one batch).
    pub deletes: usize,
}

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub audit_log: Pruned,
    pub refresh_tokens: Pruned,
}

#[derive(Clone, Copy)]
enum Table {
    AuditLog,
    RefreshTokens,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::AuditLog => "audit_log",
            Table::RefreshTokens => "refresh_tokens",
        }
    }

    /// How long the table's rows are kept; zero keeps them all.
    fn keep(self, config: &RetentionConfig) -> Duration {
        match self {
            Table::AuditLog => config.audit_log,
            Table::RefreshTokens => config.refresh_tokens,
        }
    }
}

/// Starts the retention task (unless both retentions are 0); it stops with the runtime.
pub fn spawn(db: Database, config: RetentionConfig) {
    if config.audit_log.is_zero() && config.refresh_tokens.is_zero() {
        tracing::info!("retention is off (AUDIT_LOG_RETENTION=0, REFRESH_TOKEN_RETENTION=0)");
        return;
    }
    for table in [Table::AuditLog, Table::RefreshTokens] {
        metrics::counter!("adminql_retention_pruned_rows_total", "table" => table.name())
            .increment(0);
    }
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let started = Instant::now();
            match run_pass(&db, &config).await {
                Ok(Some(pass)) if pass != Pass::default() => tracing::info!(
                    audit_log.rows = pass.audit_log.rows,
                    refresh_tokens.rows = pass.refresh_tokens.rows,
                    deletes = pass.audit_log.deletes + pass.refresh_tokens.deletes,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "retention pass pruned rows"
                ),
                Ok(Some(_)) => tracing::debug!("retention pass: nothing to prune"),
                Ok(None) => tracing::debug!("retention pass skipped: another pod holds the lock"),
                Err(error) => {
                    tracing::warn!(%error, "retention pass failed; next one in RETENTION_INTERVAL")
                }
            }
        }
    });
}

/// Runs one pass now; `None` when another pod holds the lock.
pub async fn run_pass(db: &Database, config: &RetentionConfig) -> Result<Option<Pass>, DbError> {
    let (mut conn, _) = db.write().await?;
    if !repo::try_lock(&mut conn).await? {
        return Ok(None);
    }
    // MySQL: the lock lives in this session, so the pass keeps it. SQLite: release the one
    // write connection between batches.
    let mut held = match conn {
        DbConn::Mysql(_) => Some(conn),
        sqlite @ DbConn::Sqlite(_) => {
            drop(sqlite);
            None
        }
    };
    let now = crate::clock::now();
    let result = async {
        Ok::<_, DbError>(Pass {
            audit_log: prune(db, &mut held, Table::AuditLog, now, config).await?,
            refresh_tokens: prune(db, &mut held, Table::RefreshTokens, now, config).await?,
        })
    }
    .await;
    if let Some(mut conn) = held
        && let Err(error) = repo::unlock(&mut conn).await
    {
        // Closing the session releases the lock.
        tracing::warn!(%error, "cannot release the retention lock; closing its connection");
        conn.discard();
    }
    result.map(Some)
}

/// `now` minus `keep`; `None` (keep everything) for zero or an age beyond the calendar.
fn cutoff(now: NaiveDateTime, keep: Duration) -> Option<NaiveDateTime> {
    if keep.is_zero() {
        return None;
    }
    now.checked_sub_signed(chrono::Duration::from_std(keep).ok()?)
}

async fn prune(
    db: &Database,
    held: &mut Option<DbConn>,
    table: Table,
    now: NaiveDateTime,
    config: &RetentionConfig,
) -> Result<Pruned, DbError> {
    let mut pruned = Pruned::default();
    let Some(cutoff) = cutoff(now, table.keep(config)) else {
        return Ok(pruned);
    };
    let batch = config.batch_size;
    let limit = i64::try_from(batch).unwrap_or(i64::MAX);
    loop {
        let mut fresh;
        let conn = match held.as_mut() {
            Some(conn) => conn,
            None => {
                fresh = db.write().await?.0;
                &mut fresh
            }
        };
        let rows = match table {
            Table::AuditLog => repo::prune_audit(conn, cutoff, limit).await?,
            Table::RefreshTokens => repo::prune_refresh_tokens(conn, cutoff, limit).await?,
        };
        if rows > 0 {
            pruned.rows += rows;
            pruned.deletes += 1;
            metrics::counter!("adminql_retention_pruned_rows_total", "table" => table.name())
                .increment(rows as u64);
        }
        if rows < batch {
            return Ok(pruned);
        }
        tokio::time::sleep(BATCH_PAUSE).await;
    }
}
