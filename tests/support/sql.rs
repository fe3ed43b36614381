//! Raw SQL on an adminql connection, for tests that set up or inspect rows directly.

/// Runs `$body` with `$conn` (a `&mut adminql::db::DbConn`) rebound to the connection of
/// whichever backend it holds: the tests' copy of the crate's own (private) `db_run!`.
macro_rules! db_run {
    ($conn:ident: $body:block) => {
        match $conn {
            adminql::db::DbConn::Mysql(__obj) => {
                let $conn: &mut ::diesel_async::AsyncMysqlConnection = &mut *__obj;
                $body
            }
            adminql::db::DbConn::Sqlite(__obj) => {
                let $conn: &mut adminql::db::SqliteConn = &mut *__obj;
                $body
            }
        }
    };
}
pub(crate) use db_run;
