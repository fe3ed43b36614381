//! Role queries; each body is written once and compiled per backend by `db_run!`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::model::{NewRole, RoleChanges, RoleFilter, RoleRow, RoleSort};
use crate::db::DbConn;
use crate::db::paging::{
    Page, Sort, equal, existing, linked, linked_to, listing, matching, sorted, within,
};
use crate::db::schema::{role_permissions, roles, user_roles};
use crate::db::{db_run, insert_all};

macro_rules! filtered {
    ($filter:expr) => {{
        let filter: &RoleFilter = $filter;
        let mut query = roles::table.into_boxed();
        matching!(query, filter.matching, roles::id, [roles::name, roles::description]);
        equal!(query,
            roles::name => filter.name.clone(),
            roles::description => filter.description.clone(),
        );
        linked_to!(query, roles::id, role_permissions.permission_id = filter.permission_id => role_id);
        linked_to!(query, roles::id, user_roles.user_id = filter.user_id => role_id);
        within!(query,
            roles::created_at => filter.created_at,
            roles::updated_at => filter.updated_at,
        );
        query
    }};
}

listing!(
    /// The roles list (see [`crate::db::paging::Listing`]).
    Roles: RoleRow, RoleFilter, RoleSort
);

pub async fn list(
    conn: &mut DbConn,
    filter: &RoleFilter,
    sort: Sort<RoleSort>,
    page: Page,
) -> QueryResult<Vec<RoleRow>> {
    db_run!(conn: {
        let query = sorted!(filtered!(filter).select(RoleRow::as_select()), sort, {
            RoleSort::Id => roles::id;
            RoleSort::Name => roles::name;
            RoleSort::CreatedAt => roles::created_at, roles::id;
            RoleSort::UpdatedAt => roles::updated_at, roles::id;
        });
        query.limit(page.limit).offset(page.offset).load(conn).await
    })
}

pub async fn count(conn: &mut DbConn, filter: &RoleFilter) -> QueryResult<i64> {
    db_run!(conn: { filtered!(filter).count().get_result(conn).await })
}

pub async fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<RoleRow>> {
    db_run!(conn: {
        roles::table.find(id).select(RoleRow::as_select()).first(conn).await.optional()
    })
}

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
    db_run!(conn: {
        diesel::delete(role_permissions::table.filter(role_permissions::role_id.eq(role_id)))
            .execute(conn)
            .await
    })?;
    let rows: Vec<_> = permission_ids
        .iter()
        .map(|p| {
            (
                role_permissions::role_id.eq(role_id),
                role_permissions::permission_id.eq(*p),
            )
        })
        .collect();
    insert_all!(conn, role_permissions::table, rows)
}

pub async fn permission_ids(conn: &mut DbConn, role_id: i64) -> QueryResult<Vec<i64>> {
    db_run!(conn: {
        role_permissions::table
            .filter(role_permissions::role_id.eq(role_id))
            .select(role_permissions::permission_id)
            .order(role_permissions::permission_id)
            .load(conn)
            .await
    })
}

/// Roles of each user, as `(user_id, role)`.
pub async fn by_users(conn: &mut DbConn, user_ids: &[i64]) -> QueryResult<Vec<(i64, RoleRow)>> {
    linked!(conn, user_roles.user_id => roles as RoleRow, user_ids, roles::name)
}

/// Which of `ids` exist.
pub async fn existing_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<i64>> {
    existing!(conn, roles, ids)
}
