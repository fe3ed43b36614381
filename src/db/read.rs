//! Reads: which server serves one ([`Database::read`], [`Database::read_after`] for a
//! consistency token), and running it so that a broken or hung connection costs a retry
//! elsewhere, not a failed request ([`Database::run_read_held`],
//! [`Database::run_primary_read`]). A busy pool is not a broken server: see
//! [`Database::read_avoiding`].

use std::sync::atomic::Ordering;

use super::{
    AnyPool, Database, DbConn, DbError, Held, Lease, ReadFn, Replica, Route, Target, gtid, ping,
};
use crate::db::Token;

impl Database {
    /// Runs a read the way a request on `route` reads: a query on a replica that honours
    /// `token` (see [`Database::run_read_held`]), a mutation on the primary; on the request's
    /// kept connection when it has one free.
    pub async fn read_on<'a, T, F>(
        &self,
        route: Route,
        token: Option<&Token>,
        held: Option<&Held>,
        mut f: F,
    ) -> Result<T, DbError>
    where
        T: Send + 'a,
        F: for<'c> FnMut(
                &'c mut DbConn,
            )
                -> scoped_futures::ScopedBoxFuture<'a, 'c, diesel::QueryResult<T>>
            + Send
            + 'a,
    {
        match route {
            Route::Read => self.run_read_held(held, token, &mut f).await,
            Route::Write => self.run_primary_read(held, &mut f).await,
        }
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
                gtid::wait_for(c, self.flavor(), token, self.inner.config.replica_gtid_wait),
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

    /// Runs a read on the request's kept connection (waiting while another field uses it),
    /// or on a new checkout that the request then keeps (see [`Held`]). If the connection
    /// breaks or hangs mid-read, it is discarded, its replica leaves rotation, and the read
    /// is retried once on another replica or the primary.
    pub async fn run_read_held<'a, T: Send + 'a>(
        &self,
        held: Option<&Held>,
        token: Option<&Token>,
        read: &mut ReadFn<'a, T>,
    ) -> Result<T, DbError> {
        let mut lease = Lease::of(held).await;
        let (result, keep) = self.run_read(lease.take(), token, read).await;
        lease.end(keep);
        result
    }

    /// [`Database::run_read_held`]'s work: the result, and the connection left to keep.
    async fn run_read<'a, T: Send + 'a>(
        &self,
        kept: Option<(DbConn, Target)>,
        token: Option<&Token>,
        read: &mut ReadFn<'a, T>,
    ) -> (Result<T, DbError>, Option<(DbConn, Target)>) {
        if let Some((mut conn, target)) = kept {
            match self.attempt(&mut conn, &target, read).await {
                Attempt::Done(result) => return (result, Some((conn, target))),
                // A kept connection that broke: start over on a new one.
                Attempt::Broken(failure) => self.broken(conn, &target, &failure),
            }
        }
        let (mut conn, target) = match self.read_after(token).await {
            Ok(checkout) => checkout,
            Err(error) => return (Err(error), None),
        };
        let failure = match self.attempt(&mut conn, &target, read).await {
            Attempt::Done(result) => return (result, Some((conn, target))),
            Attempt::Broken(failure) => failure,
        };
        self.broken(conn, &target, &failure);
        tracing::warn!(target = target.label(), %failure, "read failed; retrying once elsewhere");
        metrics::counter!("adminql_db_fallback_total", "reason" => "read_failed").increment(1);
        let retry = match &target {
            Target::Replica(name) => self.read_avoiding(Some(name)).await,
            Target::Primary => self.read().await,
        };
        let (mut conn, target) = match retry {
            Ok(checkout) => checkout,
            Err(error) => return (Err(error), None),
        };
        match self.attempt(&mut conn, &target, read).await {
            Attempt::Done(result) => (result, Some((conn, target))),
            Attempt::Broken(failure) => {
                self.broken(conn, &target, &failure);
                (Err(DbError::ReadUnavailable(failure)), None)
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
        let mut lease = Lease::of(held).await;
        let (result, keep) = self.run_on_primary(lease.take(), read).await;
        lease.end(keep);
        result
    }

    /// [`Database::run_primary_read`]'s work: the result, and the connection left to keep.
    async fn run_on_primary<'a, T: Send + 'a>(
        &self,
        kept: Option<(DbConn, Target)>,
        read: &mut ReadFn<'a, T>,
    ) -> (Result<T, DbError>, Option<(DbConn, Target)>) {
        let (mut conn, target) = match kept {
            Some(kept) => kept,
            None => match self.write().await {
                Ok(checkout) => checkout,
                Err(error) => return (Err(error), None),
            },
        };
        for retry in [true, false] {
            match self.attempt(&mut conn, &target, read).await {
                Attempt::Done(result) => return (result, Some((conn, target))),
                Attempt::Broken(failure) if retry => {
                    self.broken(conn, &target, &failure);
                    conn = match self.write().await {
                        Ok((conn, _)) => conn,
                        Err(error) => return (Err(error), None),
                    };
                }
                Attempt::Broken(failure) => {
                    self.broken(conn, &target, &failure);
                    return (Err(DbError::PrimaryUnavailable(failure)), None);
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
}

enum Attempt<T> {
    Done(Result<T, DbError>),
    Broken(String),
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
