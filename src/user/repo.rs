//! User queries; each body is written once and compiled per backend by `db_run!`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::model::{NewUser, UserChanges, UserFilter, UserRow, UserSort};
use crate::db::DbConn;
use crate::db::db_run;
use crate::db::paging::{equal, link_ids, linked, linked_to, listing, set_links, within};
use crate::db::schema::{roles, user_roles, users};
use crate::db::sql::{EARLIEST, in_ids, update_where};

pub async fn count_all(conn: &mut DbConn) -> QueryResult<i64> {
    db_run!(conn: { users::table.count().get_result(conn).await })
}

/// The user with this email and their password hash, for signing in.
pub async fn credentials_by_email(
    conn: &mut DbConn,
    email: &str,
) -> QueryResult<Option<(UserRow, String)>> {
    db_run!(conn: {
        users::table
            .filter(users::email.eq(email))
            .select((UserRow::as_select(), users::password_hash))
            .first(conn)
            .await
            .optional()
    })
}

/// A user and their password hash, for checking the current password.
pub async fn credentials(conn: &mut DbConn, id: i64) -> QueryResult<Option<(UserRow, String)>> {
    db_run!(conn: {
        users::table
            .find(id)
            .select((UserRow::as_select(), users::password_hash))
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

listing!(
    /// The users list (see [`crate::db::paging::Listing`]), the id breaking ties.
    Users: users as UserRow, UserFilter, UserSort,
    search [email, name],
    filter |query, filter| {
        equal!(query, users::email => filter.email.as_deref().map(|v| v.trim().to_lowercase()));
        equal!(query, users: filter.name, filter.active);
        linked_to!(query, users::id, user_roles.role_id = filter.role_id => user_id);
        within!(query, users: filter.created_at, filter.updated_at, filter.last_login_at);
    },
    sorted {
        UserSort::Id => users::id;
        UserSort::Email => users::email;
        UserSort::Name => users::name, users::id;
        UserSort::Active => users::active, users::id;
        UserSort::CreatedAt => users::created_at, users::id;
        UserSort::UpdatedAt => users::updated_at, users::id;
        UserSort::LastLoginAt => users::last_login_at, users::id;
    },
    // MariaDB 10.x prices `ORDER BY <indexed column> LIMIT n OFFSET m` as a full scan and
    // filesort once m passes ~150 (10,000 users: 4-9 ms a page instead of 0.2 ms; see
    // bench/README.md). A condition every row meets, over the sort column's index, turns it
    // into a range read in index order, which it prices right.
    in_index_order |ids, field| match field {
        UserSort::Id => ids,
        UserSort::Email => ids.filter(users::email.ge("")),
        UserSort::Name => ids.filter(users::name.ge("")),
        UserSort::Active => ids.filter(users::active.ge(false)),
        UserSort::CreatedAt => ids.filter(users::created_at.ge(EARLIEST)),
        UserSort::UpdatedAt => ids.filter(users::updated_at.ge(EARLIEST)),
        UserSort::LastLoginAt => ids.filter(
            users::last_login_at.ge(EARLIEST).or(users::last_login_at.is_null()),
        ),
    }
);

pub async fn by_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<UserRow>> {
    db_run!(conn: {
        users::table.filter(in_ids(users::id, ids)).select(UserRow::as_select()).load(conn).await
    })
}

/// Users holding each role, as `(role_id, user)`.
pub async fn by_roles(conn: &mut DbConn, role_ids: &[i64]) -> QueryResult<Vec<(i64, UserRow)>> {
    linked!(conn, user_roles.role_id => users as UserRow, role_ids, users::email)
}

pub async fn update(conn: &mut DbConn, id: i64, changes: &UserChanges<'_>) -> QueryResult<()> {
    db_run!(conn: {
        update_where(users::table, changes.as_changeset(), users::id.eq(id))
            .execute(conn)
            .await
            .map(|_| ())
    })
}

/// Bumps `token_version`, revoking every access token issued before.
pub async fn bump_token_version(conn: &mut DbConn, id: i64) -> QueryResult<()> {
    db_run!(conn: {
        diesel::update(users::table.find(id))
            .set(users::token_version.eq(users::token_version + 1))
            .execute(conn)
            .await
            .map(|_| ())
    })
}

pub async fn delete(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    db_run!(conn: { diesel::delete(users::table.find(id)).execute(conn).await })
}

pub async fn role_ids(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<i64>> {
    link_ids!(conn, user_roles.user_id = user_id => role_id)
}

/// Replaces the user's roles with `role_ids`.
pub async fn set_roles(conn: &mut DbConn, user_id: i64, role_ids: &[i64]) -> QueryResult<()> {
    set_links!(conn, user_roles.user_id = user_id => role_id = role_ids)
}
