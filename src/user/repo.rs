//! User queries; each body is written once and compiled per backend by `db_run!`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::model::{NewUser, UserRow};
use crate::db::DbConn;
use crate::db::schema::{roles, user_roles, users};
use crate::db_run;

pub async fn count_all(conn: &mut DbConn) -> QueryResult<i64> {
    db_run!(conn: { users::table.count().get_result(conn).await })
}

pub async fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<UserRow>> {
    db_run!(conn: {
        users::table
            .filter(users::email.eq(email))
            .select(UserRow::as_select())
            .first(conn)
            .await
            .optional()
    })
}

/// Inserts a user and returns the stored row (found again by its unique email, which works
/// the same on both backends without RETURNING or LAST_INSERT_ID).
pub async fn insert(conn: &mut DbConn, user: &NewUser<'_>) -> QueryResult<UserRow> {
    db_run!(conn: {
        diesel::insert_into(users::table).values(user).execute(conn).await?;
        users::table
            .filter(users::email.eq(user.email))
            .select(UserRow::as_select())
            .first(conn)
            .await
    })
}

/// Gives the user the role called `role_name`.
pub async fn grant_role_by_name(
    conn: &mut DbConn,
    user_id: i64,
    role_name: &str,
) -> QueryResult<()> {
    db_run!(conn: {
        let role_id: i64 = roles::table
            .filter(roles::name.eq(role_name))
            .select(roles::id)
            .first(conn)
            .await?;
        diesel::insert_into(user_roles::table)
            .values((user_roles::user_id.eq(user_id), user_roles::role_id.eq(role_id)))
            .execute(conn)
            .await
            .map(|_| ())
    })
}
