//! Permission queries; each body is written once and compiled per backend by `db_run!`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::model::{PermissionFilter, PermissionRow, PermissionSort};
use crate::db::DbConn;
use crate::db::db_run;
use crate::db::paging::{equal, existing, linked, linked_to, listing};
use crate::db::schema::{permissions, role_permissions};
use crate::db::sql::in_ids;

listing!(
    /// The permission catalogue (see [`crate::db::paging::Listing`]).
    Permissions: permissions as PermissionRow, PermissionFilter, PermissionSort,
    search [code, description],
    filter |query, filter| {
        equal!(query, permissions: filter.code);
        linked_to!(query, permissions::id, role_permissions.role_id = filter.role_id => permission_id);
    },
    sorted {
        PermissionSort::Id => permissions::id;
        PermissionSort::Code => permissions::code, permissions::id;
    }
);

/// Effective permissions of each user (through their roles), as `(user_id, permission)`.
pub async fn by_users(
    conn: &mut DbConn,
    user_ids: &[i64],
) -> QueryResult<Vec<(i64, PermissionRow)>> {
    use crate::db::schema::user_roles;
    db_run!(conn: {
        user_roles::table
            .inner_join(role_permissions::table.on(role_permissions::role_id.eq(user_roles::role_id)))
            .inner_join(permissions::table.on(permissions::id.eq(role_permissions::permission_id)))
            .filter(in_ids(user_roles::user_id, user_ids))
            .select((user_roles::user_id, PermissionRow::as_select()))
            .distinct()
            .order((user_roles::user_id, permissions::code))
            .load(conn)
            .await
    })
}

/// Permissions of each role, as `(role_id, permission)`.
pub async fn by_roles(
    conn: &mut DbConn,
    role_ids: &[i64],
) -> QueryResult<Vec<(i64, PermissionRow)>> {
    linked!(conn, role_permissions.role_id => permissions as PermissionRow, role_ids, permissions::code)
}

/// Which of `ids` exist.
pub async fn existing_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<i64>> {
    existing!(conn, permissions, ids)
}

/// The permission codes a user holds through their roles (sorted, distinct).
pub async fn codes_of_user(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<String>> {
    use crate::db::schema::user_roles;
    db_run!(conn: {
        user_roles::table
            .inner_join(role_permissions::table.on(role_permissions::role_id.eq(user_roles::role_id)))
            .inner_join(permissions::table.on(permissions::id.eq(role_permissions::permission_id)))
            .filter(user_roles::user_id.eq(user_id))
            .select(permissions::code)
            .distinct()
            .order(permissions::code)
            .load(conn)
            .await
    })
}
