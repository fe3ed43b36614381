//! Role queries; each body is written once and compiled per backend by `db_run!`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::model::{NewRole, RoleChanges, RoleFilter, RoleRow, RoleSort};
use crate::db::DbConn;
use crate::db::paging::{Page, Sort, SortOrder, like_pattern};
use crate::db::schema::{role_permissions, roles, user_roles};
use crate::db::sql::{in_ids, lower};
use crate::db::{db_run, insert_all};

macro_rules! filtered {
    ($filter:expr) => {{
        let filter: &RoleFilter = $filter;
        let mut query = roles::table.into_boxed();
        if let Some(q) = filter.q.as_deref().filter(|q| !q.trim().is_empty()) {
            let pattern = like_pattern(q);
            query = query.filter(
                lower(roles::name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(roles::description).like(pattern).escape('\\')),
            );
        }
        if let Some(ids) = &filter.ids {
            query = query.filter(in_ids(roles::id, ids));
        }
        if let Some(v) = &filter.name {
            query = query.filter(roles::name.eq(v.clone()));
        }
        if let Some(v) = &filter.description {
            query = query.filter(roles::description.eq(v.clone()));
        }
        if let Some(permission_id) = filter.permission_id {
            query = query.filter(
                roles::id.eq_any(
                    role_permissions::table
                        .filter(role_permissions::permission_id.eq(permission_id))
                        .select(role_permissions::role_id),
                ),
            );
        }
        if let Some(user_id) = filter.user_id {
            query = query.filter(
                roles::id.eq_any(
                    user_roles::table
                        .filter(user_roles::user_id.eq(user_id))
                        .select(user_roles::role_id),
                ),
            );
        }
        if let Some(v) = filter.created_at_gte {
            query = query.filter(roles::created_at.ge(v));
        }
        if let Some(v) = filter.created_at_lte {
            query = query.filter(roles::created_at.le(v));
        }
        if let Some(v) = filter.updated_at_gte {
            query = query.filter(roles::updated_at.ge(v));
        }
        if let Some(v) = filter.updated_at_lte {
            query = query.filter(roles::updated_at.le(v));
        }
        query
    }};
}

pub async fn list(
    conn: &mut DbConn,
    filter: &RoleFilter,
    sort: Sort<RoleSort>,
    page: Page,
) -> QueryResult<Vec<RoleRow>> {
    db_run!(conn: {
        let mut query = filtered!(filter).select(RoleRow::as_select());
        query = match (sort.field, sort.order) {
            (RoleSort::Id, SortOrder::Asc) => query.order(roles::id.asc()),
            (RoleSort::Id, SortOrder::Desc) => query.order(roles::id.desc()),
            (RoleSort::Name, SortOrder::Asc) => query.order(roles::name.asc()),
            (RoleSort::Name, SortOrder::Desc) => query.order(roles::name.desc()),
            (RoleSort::CreatedAt, SortOrder::Asc) => query.order((roles::created_at.asc(), roles::id.asc())),
            (RoleSort::CreatedAt, SortOrder::Desc) => query.order((roles::created_at.desc(), roles::id.desc())),
            (RoleSort::UpdatedAt, SortOrder::Asc) => query.order((roles::updated_at.asc(), roles::id.asc())),
            (RoleSort::UpdatedAt, SortOrder::Desc) => query.order((roles::updated_at.desc(), roles::id.desc())),
        };
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
    db_run!(conn: {
        user_roles::table
            .inner_join(roles::table)
            .filter(in_ids(user_roles::user_id, user_ids))
            .select((user_roles::user_id, RoleRow::as_select()))
            .order((user_roles::user_id, roles::name))
            .load(conn)
            .await
    })
}

/// Which of `ids` exist.
pub async fn existing_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<i64>> {
    db_run!(conn: {
        roles::table.filter(in_ids(roles::id, ids)).select(roles::id).load(conn).await
    })
}
