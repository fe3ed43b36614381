//! Connections: the enum over both backends, the dispatch macros that compile a repository
//! body once per backend, and transactions.

use diesel::SqliteConnection;
use diesel_async::AsyncMysqlConnection;
use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, TransactionManager};
use scoped_futures::ScopedBoxFuture;

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// Runs `$body` with `$conn` rebound to the concrete connection of whichever backend `$conn`
/// (a `&mut DbConn`) holds. The body is compiled once per backend.
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

pub(crate) use {db_run, insert_all};

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
        let result =
            tracing::Instrument::instrument(f(self), tracing::debug_span!("db.transaction")).await;
        let commit = result.is_ok();
        let end = match self {
            DbConn::Mysql(c) => finish(&mut **c, commit).await,
            DbConn::Sqlite(c) => finish(&mut **c, commit).await,
        };
        if commit && end.is_ok() {
            super::gtid::record_commit(self).await;
        }
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

    /// Takes a broken connection out of its pool so it is closed instead of recycled.
    pub fn discard(self) {
        match self {
            DbConn::Mysql(c) => drop(Object::take(c)),
            DbConn::Sqlite(c) => drop(Object::take(c)),
        }
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
