//! The SQL of retention: find a bounded batch of expired rows, delete exactly those, and
//! the advisory lock that lets one pod at a time prune.
//!
//! A batch is chosen with `SELECT id ... LIMIT n` and deleted with `DELETE ... WHERE id IN
//! (...)`, repeating the age condition: neither MySQL nor MariaDB take `LIMIT` in an `IN`
//! subquery, SQLite's `DELETE ... LIMIT` is a compile-time option, and a `DELETE` by primary
//! key is deterministic for statement-based replication. Refresh tokens are scanned in id
//! order (no index on their timestamps): the oldest ids expire first, so a batch stops early,
//! and the live table holds only the tokens of the last `REFRESH_TOKEN_TTL` or so.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable};
use diesel_async::RunQueryDsl;

use crate::db::DbConn;
use crate::db::db_run;
use crate::db::schema::{audit_log, refresh_tokens};

/// The advisory lock's name. `GET_LOCK` names are server-wide, so the name includes the
/// database: two deployments sharing a server do not wait for each other.
const LOCK: &str = "CONCAT('adminql_retention.', DATABASE())";

/// Takes the retention lock without waiting; `false` when another pod holds it. SQLite has
/// one process, so there it always succeeds.
pub async fn try_lock(conn: &mut DbConn) -> QueryResult<bool> {
    match conn {
        DbConn::Mysql(c) => {
            let locked: Option<i32> = diesel::select(diesel::dsl::sql::<Nullable<Integer>>(
                &format!("GET_LOCK({LOCK}, 0)"),
            ))
            .get_result(&mut **c)
            .await?;
            Ok(locked == Some(1))
        }
        DbConn::Sqlite(_) => Ok(true),
    }
}

pub async fn unlock(conn: &mut DbConn) -> QueryResult<()> {
    match conn {
        DbConn::Mysql(c) => {
            use diesel_async::SimpleAsyncConnection;
            c.batch_execute(&format!("DO RELEASE_LOCK({LOCK})")).await
        }
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// Deletes up to `$limit` rows of `$table` that meet `$condition`, taken in `$order`: the
/// ids first, then a DELETE by id that checks the condition again, so each statement
/// touches a bounded set of rows. Returns how many went.
macro_rules! prune_batch {
    ($conn:ident, $table:ident, $condition:expr, $order:expr, $limit:expr) => {
        db_run!($conn: {
            let ids: Vec<i64> = $table::table
                .filter($condition)
                .order($order)
                .select($table::id)
                .limit($limit)
                .load($conn)
                .await?;
            if ids.is_empty() {
                return Ok(0);
            }
            diesel::delete($table::table.filter($table::id.eq_any(&ids)).filter($condition))
                .execute($conn)
                .await
        })
    };
}

/// Deletes up to `limit` audit rows older than `cutoff`, oldest first; returns how many.
pub async fn prune_audit(
    conn: &mut DbConn,
    cutoff: NaiveDateTime,
    limit: i64,
) -> QueryResult<usize> {
    prune_batch!(
        conn,
        audit_log,
        audit_log::at.lt(cutoff),
        audit_log::at.asc(),
        limit
    )
}

/// Deletes up to `limit` refresh tokens that expired or were revoked before `cutoff`.
pub async fn prune_refresh_tokens(
    conn: &mut DbConn,
    cutoff: NaiveDateTime,
    limit: i64,
) -> QueryResult<usize> {
    let expired = || {
        refresh_tokens::expires_at
            .lt(cutoff)
            .nullable()
            .or(refresh_tokens::revoked_at.lt(cutoff))
    };
    prune_batch!(
        conn,
        refresh_tokens,
        expired(),
        refresh_tokens::id.asc(),
        limit
    )
}
