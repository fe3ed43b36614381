//! The replica monitor: a background task that, every `REPLICA_CHECK_INTERVAL`,
//! - writes the heartbeat row on the primary (pt-heartbeat style), which also tells whether
//!   the primary answers (writes fail fast with `READ_ONLY_MODE` while it does not);
//! - probes each replica on a connection of its own: reachable, and its lag, measured as the
//!   age of its copy of the heartbeat row. A stopped SQL or I/O thread shows up as a lag that
//!   keeps growing; a replica with no heartbeat yet counts as healthy only while replication
//!   runs.
//!
//! While the primary does not answer, nobody writes and the heartbeat stops: its age on a
//! replica then grows by the outage's length without the replica missing anything, so the
//! time since the last heartbeat that reached the primary is not counted as lag (otherwise a
//! failover slower than `REPLICA_MAX_LAG` would take every replica out of rotation, and reads
//! would fall back to the dead primary and fail).
//!
//! A heartbeat that fails on the monitor's open connection with an error (not a timeout) is
//! tried once more on a new connection in the same tick: the primary may have restarted
//! between two ticks, and a restarted primary is not a down one. When the new connection
//! works, the primary pool's idle connections, which broke with the old one, are dropped
//! and the event is logged once at `warn`; writes never see read-only mode for it.
//!
//! A replica over `REPLICA_MAX_LAG` or unreachable leaves rotation at once and returns after
//! [`super::replica::PROBES_TO_RETURN`] healthy probes in a row. Every transition is logged
//! once at `warn`.

use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{AsyncMysqlConnection, RunQueryDsl, SimpleAsyncConnection};
use secrecy::ExposeSecret;

use super::connect::connect_mysql;
use super::gtid::{Flavor, FlavorCell};
use super::sql::fixed;
use super::tls::TlsSettings;
use super::{Database, Probe};

pub(super) async fn run(db: Database) {
    let config = db.config().clone();
    let limit = config.connect_timeout.max(Duration::from_secs(1));
    let mut primary: Option<AsyncMysqlConnection> = None;
    let mut replicas: Vec<Option<AsyncMysqlConnection>> =
        db.replicas().iter().map(|_| None).collect();
    let mut ticker = tokio::time::interval(config.replica_check_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_beat = Instant::now();
    loop {
        ticker.tick().await;
        let no_beat_since = if db.primary_healthy() {
            Duration::ZERO
        } else {
            last_beat.elapsed()
        };
        let beat = async {
            match heartbeat(&db, &mut primary, limit).await {
                Ok(Beat::Steady) => {
                    last_beat = Instant::now();
                    db.set_primary_healthy(true, "");
                }
                Ok(Beat::Reconnected { lost }) => {
                    last_beat = Instant::now();
                    // The pool's idle connections went with the monitor's: without a ping
                    // per checkout, each would fail a request.
                    db.inner.primary.drop_idle();
                    tracing::warn!(
                        reason = %lost,
                        "the primary connection broke and a new one works (a restart?): dropped the idle primary connections"
                    );
                    db.set_primary_healthy(true, "");
                }
                Err(reason) => {
                    primary = None;
                    db.set_primary_healthy(false, &reason);
                }
            }
        };
        let probes =
            futures_util::future::join_all(db.replicas().iter().zip(replicas.iter_mut()).map(
                |(replica, conn)| {
                    let max_lag = config.replica_max_lag;
                    let tls = &config.tls;
                    let flavor = db.flavor_cell();
                    async move {
                        let Some(url) = &replica.url else { return };
                        let probe = probe(
                            url.expose_secret(),
                            (tls, flavor),
                            conn,
                            limit,
                            max_lag,
                            no_beat_since,
                        )
                        .await;
                        if matches!(probe, Probe::Unhealthy { .. }) {
                            *conn = None;
                        }
                        replica.record(probe);
                    }
                },
            ));
        tokio::join!(beat, probes);
    }
}

/// The monitor's connection in `slot`, opened when there is none. A new connection tells
/// the database's flavor (the pools may not have connected yet).
async fn connection<'c>(
    slot: &'c mut Option<AsyncMysqlConnection>,
    url: &str,
    (tls, flavor): (&TlsSettings, &FlavorCell),
    limit: Duration,
) -> Result<&'c mut AsyncMysqlConnection, String> {
    if slot.is_none() {
        let mut conn = connect_mysql(url, tls, limit)
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        let version: String = diesel::select(fixed::<Text>("VERSION()"))
            .get_result(&mut conn)
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        flavor.learn(&version);
        *slot = Some(conn);
    }
    slot.as_mut().ok_or_else(|| "no connection".to_owned())
}

/// What a heartbeat that reached the primary found.
enum Beat {
    /// It went through on the connection the monitor had (or opened for the first time).
    Steady,
    /// The monitor's connection broke (`lost` says how) and a new one went through: the
    /// primary restarted, or dropped the connection.
    Reconnected { lost: String },
}

/// Writes the heartbeat row. A failure on an open connection that is not a timeout is
/// tried once more on a new connection; a timeout is not (a hung primary is down, and a
/// second wait would double the time writes take to fail fast).
async fn heartbeat(
    db: &Database,
    slot: &mut Option<AsyncMysqlConnection>,
    limit: Duration,
) -> Result<Beat, String> {
    let reused = slot.is_some();
    match beat_once(db, slot, limit).await {
        Ok(()) => Ok(Beat::Steady),
        Err(Failure::Error(lost)) if reused => {
            *slot = None;
            match beat_once(db, slot, limit).await {
                Ok(()) => Ok(Beat::Reconnected { lost }),
                Err(failure) => Err(failure.into_reason()),
            }
        }
        Err(failure) => Err(failure.into_reason()),
    }
}

/// Why one heartbeat attempt failed.
enum Failure {
    Error(String),
    Timeout(String),
}

impl Failure {
    fn into_reason(self) -> String {
        match self {
            Failure::Error(reason) | Failure::Timeout(reason) => reason,
        }
    }
}

async fn beat_once(
    db: &Database,
    slot: &mut Option<AsyncMysqlConnection>,
    limit: Duration,
) -> Result<(), Failure> {
    let url = db
        .primary_url()
        .ok_or_else(|| Failure::Error("no primary URL".into()))?
        .expose_secret()
        .to_owned();
    let work = async {
        let conn = connection(slot, &url, (&db.config().tls, db.flavor_cell()), limit).await?;
        conn.batch_execute("REPLACE INTO heartbeat (id, beat_at) VALUES (1, UTC_TIMESTAMP(6))")
            .await
            .map_err(|e| format!("heartbeat write failed: {e}"))
    };
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(Failure::Error),
        Err(_) => Err(Failure::Timeout(format!(
            "no answer within {}",
            humantime::format_duration(limit)
        ))),
    }
}

async fn probe(
    url: &str,
    (tls, flavor): (&TlsSettings, &FlavorCell),
    slot: &mut Option<AsyncMysqlConnection>,
    limit: Duration,
    max_lag: Duration,
    no_beat_since: Duration,
) -> Probe {
    let work = async {
        let conn = connection(slot, url, (tls, flavor), limit).await?;
        let lag: Option<Option<i64>> = diesel::select(fixed::<Nullable<BigInt>>(
            "(SELECT CAST(TIMESTAMPDIFF(MICROSECOND, beat_at, UTC_TIMESTAMP(6)) AS SIGNED) FROM heartbeat WHERE id = 1)",
        ))
        .get_result(conn)
        .await
        .map(Some)
        .or_else(|e| {
            // A replica that has not applied the migrations yet has no heartbeat table.
            if e.to_string().contains("doesn't exist") {
                Ok(None)
            } else {
                Err(format!("probe failed: {e}"))
            }
        })?;
        match lag.flatten() {
            Some(micros) => Ok(Some(
                (micros as f64 / 1e6 - no_beat_since.as_secs_f64()).max(0.0),
            )),
            None if replication_running(conn, flavor.get()).await? => Ok(None),
            None => Err("not replicating and no heartbeat yet".to_owned()),
        }
    };
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(Some(lag))) if lag > max_lag.as_secs_f64() => Probe::Unhealthy {
            reason: format!(
                "lag {lag:.1}s is over REPLICA_MAX_LAG ({})",
                humantime::format_duration(max_lag)
            ),
            lag_seconds: Some(lag),
        },
        Ok(Ok(lag)) => Probe::Healthy { lag_seconds: lag },
        Ok(Err(reason)) => Probe::failed(reason),
        Err(_) => Probe::failed(format!(
            "no answer within {}",
            humantime::format_duration(limit)
        )),
    }
}

async fn replication_running(
    conn: &mut AsyncMysqlConnection,
    flavor: Flavor,
) -> Result<bool, String> {
    let state: Option<String> =
        diesel::select(fixed::<Nullable<Text>>(replication_state_sql(flavor)))
            .get_result(conn)
            .await
            .map_err(|e| format!("replication status unavailable: {e}"))?;
    Ok(state.as_deref() == Some("ON"))
}

/// The scalar subquery whose answer is `ON` while the server's replication applies events:
/// MariaDB's `SLAVE_RUNNING` status, MySQL 8's applier service state.
fn replication_state_sql(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::MariaDb => {
            "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVE_RUNNING')"
        }
        Flavor::Mysql => {
            "(SELECT SERVICE_STATE FROM performance_schema.replication_applier_status LIMIT 1)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::sql::cached_mysql_text;

    /// MySQL 8 runs against no server here (README): the statement it gets is checked as text.
    #[test]
    fn replication_status_query_per_flavor() {
        let sent = |flavor| {
            cached_mysql_text(&diesel::select(fixed::<Nullable<Text>>(
                replication_state_sql(flavor),
            )))
        };
        assert_eq!(
            sent(Flavor::MariaDb).as_deref(),
            Some(
                "SELECT (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVE_RUNNING')"
            )
        );
        assert_eq!(
            sent(Flavor::Mysql).as_deref(),
            Some(
                "SELECT (SELECT SERVICE_STATE FROM performance_schema.replication_applier_status LIMIT 1)"
            )
        );
    }
}
