//! Role queries; each body is written once and compiled per backend by `db_run!`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::model::{NewRole, RoleChanges, RoleFilter, RoleRow, RoleSort};
use crate::db::DbConn;
use crate::db::db_run;
use crate::db::paging::{equal, existing, link_ids, linked, linked_to, listing, set_links, within};
use crate::db::schema::{role_permissions, roles, user_roles};

listing!(
    /// The roles list (see [`crate::db::paging::Listing`]).
    Roles: roles as RoleRow, RoleFilter, RoleSort,
    search [name, description],
    filter |query, filter| {
        equal!(query, roles: filter.name, filter.description);
        linked_to!(query, roles::id, role_permissions.permission_id = filter.permission_id => role_id);
        linked_to!(query, roles::id, user_roles.user_id = filter.user_id => role_id);
        within!(query, roles: filter.created_at, filter.updated_at);
    },
    sorted {
        RoleSort::Id => roles::id;
        RoleSort::Name => roles::name;
        RoleSort::CreatedAt => roles::created_at, roles::id;
        RoleSort::UpdatedAt => roles::updated_at, roles::id;
    }
);

/// Inserts a role and returns it (found again by its unique name).
pub async fn insert(conn: &mut DbConn, role: &NewRole<'_>) -> QueryResult<RoleRow> {
    db_run!(conn: {
        diesel::insert_into(roles::table).values(role).execute(conn).await?;
        roles::table.filter(roles::name.eq(role.name)).select(RoleRow::as_select()).first(conn).await
    })
}

pub async fn update(conn: &mut DbConn, id: i64, changes: &RoleChanges<'_>) -> QueryResult<()> {
    db_run!(conn: {
        diesel::update(roles::table.find(id)).set(changes).execute(conn).await.map(|_| ())
    })
}

pub async fn delete(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    db_run!(conn: { diesel::delete(roles::table.find(id)).execute(conn).await })
}

/// Replaces the role's permissions with `permission_ids`.
pub async fn set_permissions(
    conn: &mut DbConn,
    role_id: i64,
    permission_ids: &[i64],
) -> QueryResult<()> {
    set_links!(conn, role_permissions.role_id = role_id => permission_id = permission_ids)
}

pub async fn permission_ids(conn: &mut DbConn, role_id: i64) -> QueryResult<Vec<i64>> {
    link_ids!(conn, role_permissions.role_id = role_id => permission_id)
}

/// Roles of each user, as `(user_id, role)`.
pub async fn by_users(conn: &mut DbConn, user_ids: &[i64]) -> QueryResult<Vec<(i64, RoleRow)>> {
    linked!(conn, user_roles.user_id => roles as RoleRow, user_ids, roles::name)
}

/// Which of `ids` exist.
pub async fn existing_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<i64>> {
    existing!(conn, roles, ids)
}
