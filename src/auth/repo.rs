//! Refresh tokens and stored settings; each body is written once per backend by `db_run!`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::DbConn;
use crate::db::db_run;
use crate::db::schema::{refresh_tokens, settings};

/// What spending a token needs to know (the hash it was found by is not read back).
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub id: i64,
    pub user_id: i64,
    pub family_id: String,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

// diesel's default wraps every field, Option or not, in a value that may become `DEFAULT`,
// which makes the statement uncacheable: bound as values, it is prepared once per connection.
#[derive(Insertable, Debug)]
#[diesel(table_name = refresh_tokens, treat_none_as_default_value = false)]
pub struct NewRefresh<'a> {
    pub user_id: i64,
    pub token_hash: &'a str,
    pub family_id: &'a str,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

pub async fn insert_refresh(conn: &mut DbConn, token: &NewRefresh<'_>) -> QueryResult<()> {
    db_run!(conn: {
        diesel::insert_into(refresh_tokens::table).values(token).execute(conn).await.map(|_| ())
    })
}

pub async fn find_refresh(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<RefreshRow>> {
    db_run!(conn: {
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .select(RefreshRow::as_select())
            .first(conn)
            .await
            .optional()
    })
}

/// Sets `$column` to `$at` on the tokens `$tokens` selects that are not revoked: spending and
/// revoking are the same update on different rows and columns.
macro_rules! stamp_unrevoked {
    ($conn:ident, $tokens:expr, $column:expr, $at:expr) => {
        db_run!($conn: {
            diesel::update($tokens.filter(refresh_tokens::revoked_at.is_null()))
                .set($column.eq($at))
                .execute($conn)
                .await
        })
    };
}

/// Spends a refresh token; 0 rows means it was spent or revoked already (a reuse).
pub async fn spend_refresh(conn: &mut DbConn, id: i64, at: NaiveDateTime) -> QueryResult<usize> {
    let unspent = refresh_tokens::table
        .find(id)
        .filter(refresh_tokens::used_at.is_null());
    stamp_unrevoked!(conn, unspent, refresh_tokens::used_at, at)
}

/// Revokes every token of a rotation chain.
pub async fn revoke_family(
    conn: &mut DbConn,
    family_id: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    let chain = refresh_tokens::table.filter(refresh_tokens::family_id.eq(family_id));
    stamp_unrevoked!(conn, chain, refresh_tokens::revoked_at, at)
}

/// Revokes every refresh token of a user (password change, deactivation).
pub async fn revoke_user_refresh_tokens(conn: &mut DbConn, user_id: i64) -> QueryResult<usize> {
    let users = refresh_tokens::table.filter(refresh_tokens::user_id.eq(user_id));
    stamp_unrevoked!(conn, users, refresh_tokens::revoked_at, crate::clock::now())
}

pub async fn get_setting(conn: &mut DbConn, name: &str) -> QueryResult<Option<String>> {
    db_run!(conn: {
        settings::table
            .filter(settings::name.eq(name))
            .select(settings::value)
            .first(conn)
            .await
            .optional()
    })
}

pub async fn insert_setting(conn: &mut DbConn, name: &str, value: &str) -> QueryResult<()> {
    db_run!(conn: {
        diesel::insert_into(settings::table)
            .values((settings::name.eq(name), settings::value.eq(value)))
            .execute(conn)
            .await
            .map(|_| ())
    })
}

/// What the auth check of every request needs, in one statement: the user's `active` flag
/// and `token_version`, and their permission codes (one row per code, or one row with
/// `None` for a user without any). No rows: the user does not exist.
pub async fn access(
    conn: &mut DbConn,
    user_id: i64,
) -> QueryResult<Option<(bool, i32, Vec<String>)>> {
    use crate::db::schema::{permissions, role_permissions, user_roles, users};
    let rows: Vec<(bool, i32, Option<String>)> = db_run!(conn: {
        users::table
            .left_join(user_roles::table.on(user_roles::user_id.eq(users::id)))
            .left_join(
                role_permissions::table.on(role_permissions::role_id.eq(user_roles::role_id)),
            )
            .left_join(permissions::table.on(permissions::id.eq(role_permissions::permission_id)))
            .filter(users::id.eq(user_id))
            .select((users::active, users::token_version, permissions::code.nullable()))
            .load(conn)
            .await
    })?;
    let Some(&(active, token_version, _)) = <[_]>::first(&rows) else {
        return Ok(None);
    };
    let mut codes: Vec<String> = rows.into_iter().filter_map(|(_, _, code)| code).collect();
    codes.sort_unstable();
    codes.dedup();
    Ok(Some((active, token_version, codes)))
}
