//! `Role`, `allRoles`, `_allRolesMeta`, and the role mutations.

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use scoped_futures::ScopedFutureExt;

use super::model::{RoleFilter as Filter, RoleRow, RoleSort};
use super::repo;
use super::service::{self, RoleInput};
use crate::auth::principal::{Require, perm};
use crate::db::DbConn;
use crate::error::AppError;
use crate::graphql::Limits;
use crate::graphql::context::{actor, conn, count, read};
use crate::graphql::list::{
    self, ListMetadata, date_range, filter_ids, gid, optional_id, parse_id, utc,
};
use crate::graphql::loaders::{group, load_error, loaders};
use crate::permission::graphql::Permission;
use crate::permission::model::PermissionRow;
use crate::permission::repo as permission_repo;
use crate::user::graphql::User;
use crate::user::model::UserRow;
use crate::user::repo as user_repo;

/// A named set of permissions given to users.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Role {
    pub id: ID,
    /// Unique.
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub row_id: i64,
    /// Relations fetched with the page that holds this role (see `all_roles`).
    #[graphql(skip)]
    pub prefetched: Prefetched,
}

/// Relations loaded for a whole page at once; `None` means "ask the loader".
#[derive(Debug, Clone, Default)]
pub struct Prefetched {
    permissions: Option<Vec<PermissionRow>>,
    users: Option<Vec<UserRow>>,
}

impl From<RoleRow> for Role {
    fn from(row: RoleRow) -> Self {
        Role {
            id: gid(row.id),
            name: row.name,
            description: row.description,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            row_id: row.id,
            prefetched: Prefetched::default(),
        }
    }
}

impl Role {
    async fn permission_rows(&self, ctx: &Context<'_>) -> Result<Vec<PermissionRow>> {
        if let Some(rows) = &self.prefetched.permissions {
            return Ok(rows.clone());
        }
        let rows = loaders(ctx)
            .permissions_by_role
            .load_one(self.row_id)
            .await
            .map_err(load_error)?;
        Ok(rows.unwrap_or_default())
    }
}

#[ComplexObject]
impl Role {
    /// Permissions the role grants.
    #[graphql(guard = "Require(perm::PERMISSION_READ)")]
    async fn permissions(&self, ctx: &Context<'_>) -> Result<Vec<Permission>> {
        Ok(self
            .permission_rows(ctx)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Ids of the permissions the role grants (for react-admin reference inputs).
    #[graphql(guard = "Require(perm::PERMISSION_READ)")]
    async fn permissions_ids(&self, ctx: &Context<'_>) -> Result<Vec<ID>> {
        Ok(self
            .permission_rows(ctx)
            .await?
            .into_iter()
            .map(|p| gid(p.id))
            .collect())
    }

    /// Users holding the role.
    #[graphql(guard = "Require(perm::USER_READ)")]
    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let rows = match &self.prefetched.users {
            Some(rows) => rows.clone(),
            None => loaders(ctx)
                .users_by_role
                .load_one(self.row_id)
                .await
                .map_err(load_error)?
                .unwrap_or_default(),
        };
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

/// Converts a page of rows, fetching each relation the query selects in one statement.
async fn page_of_roles(
    ctx: &Context<'_>,
    conn: &mut DbConn,
    rows: Vec<RoleRow>,
) -> QueryResult<Vec<Role>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let look = ctx.look_ahead();
    let mut permissions =
        if look.field("permissions").exists() || look.field("permissionsIds").exists() {
            Some(group(&ids, permission_repo::by_roles(conn, &ids).await?))
        } else {
            None
        };
    let mut users = if look.field("users").exists() {
        Some(group(&ids, user_repo::by_roles(conn, &ids).await?))
    } else {
        None
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let id = row.id;
            let mut role = Role::from(row);
            role.prefetched = Prefetched {
                permissions: permissions
                    .as_mut()
                    .map(|m| m.remove(&id).unwrap_or_default()),
                users: users.as_mut().map(|m| m.remove(&id).unwrap_or_default()),
            };
            role
        })
        .collect())
}

/// Filter for `allRoles`; all given conditions must hold. Dates take `2026-11-23` or RFC 3339.
#[derive(InputObject, Debug, Default)]
pub struct RoleFilter {
    /// Case-insensitive search in name and description.
    pub q: Option<String>,
    pub ids: Option<Vec<ID>>,
    pub id: Option<ID>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Roles granting this permission.
    #[graphql(name = "permission_id")]
    pub permission_id: Option<ID>,
    /// Roles held by this user.
    #[graphql(name = "user_id")]
    pub user_id: Option<ID>,
    #[graphql(name = "createdAt_gte")]
    pub created_at_gte: Option<String>,
    #[graphql(name = "createdAt_lte")]
    pub created_at_lte: Option<String>,
    #[graphql(name = "updatedAt_gte")]
    pub updated_at_gte: Option<String>,
    #[graphql(name = "updatedAt_lte")]
    pub updated_at_lte: Option<String>,
}

impl RoleFilter {
    fn parse(self) -> Result<Filter, AppError> {
        let (created_at_gte, created_at_lte) = date_range(
            "createdAt",
            self.created_at_gte.as_deref(),
            self.created_at_lte.as_deref(),
        )?;
        let (updated_at_gte, updated_at_lte) = date_range(
            "updatedAt",
            self.updated_at_gte.as_deref(),
            self.updated_at_lte.as_deref(),
        )?;
        Ok(Filter {
            q: self.q,
            ids: filter_ids(self.ids.as_deref(), self.id.as_ref())?,
            name: self.name,
            description: self.description,
            permission_id: optional_id("filter.permission_id", self.permission_id.as_ref())?,
            user_id: optional_id("filter.user_id", self.user_id.as_ref())?,
            created_at_gte,
            created_at_lte,
            updated_at_gte,
            updated_at_lte,
        })
    }
}

const SORTABLE: &[(&str, RoleSort)] = &[
    ("id", RoleSort::Id),
    ("name", RoleSort::Name),
    ("createdAt", RoleSort::CreatedAt),
    ("updatedAt", RoleSort::UpdatedAt),
];

#[derive(Default)]
pub struct RoleQuery;

#[Object]
impl RoleQuery {
    /// One role by id.
    #[graphql(name = "Role", guard = "Require(perm::ROLE_READ)")]
    async fn role(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Role>> {
        let id = parse_id("id", &id)?;
        let row = read(ctx, |c| repo::find(c, id).scope_boxed()).await?;
        Ok(row.map(Into::into))
    }

    /// A page of roles.
    #[graphql(guard = "Require(perm::ROLE_READ)")]
    async fn all_roles(
        &self,
        ctx: &Context<'_>,
        page: Option<i32>,
        per_page: Option<i32>,
        sort_field: Option<String>,
        sort_order: Option<String>,
        filter: Option<RoleFilter>,
    ) -> Result<Vec<Role>> {
        let filter = filter.unwrap_or_default().parse()?;
        let max = ctx.data_unchecked::<Limits>().max_page_size;
        let page = list::page(page, per_page, max, filter.ids.as_ref().map(Vec::len))?;
        let sort = list::sort(
            sort_field.as_deref(),
            sort_order.as_deref(),
            SORTABLE,
            RoleSort::Id,
        )?;
        let filter = &filter;
        let rows = read(ctx, |c| {
            async move {
                let rows = repo::list(c, filter, sort, page).await?;
                page_of_roles(ctx, c, rows).await
            }
            .scope_boxed()
        })
        .await?;
        Ok(rows)
    }

    /// How many roles match (ignoring pagination).
    #[graphql(name = "_allRolesMeta", guard = "Require(perm::ROLE_READ)")]
    async fn all_roles_meta(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "page")] _page: Option<i32>,
        #[graphql(name = "perPage")] _per_page: Option<i32>,
        #[graphql(name = "sortField")] _sort_field: Option<String>,
        #[graphql(name = "sortOrder")] _sort_order: Option<String>,
        filter: Option<RoleFilter>,
    ) -> Result<ListMetadata> {
        let filter = filter.unwrap_or_default().parse()?;
        let count = count(ctx, "roles", &filter, |c| {
            repo::count(c, &filter).scope_boxed()
        })
        .await?;
        Ok(ListMetadata { count })
    }
}

#[derive(Default)]
pub struct RoleMutation;

fn permission_ids(ids: Option<Vec<ID>>) -> Result<Option<Vec<i64>>, AppError> {
    ids.map(|ids| list::parse_ids("permissionsIds", &ids))
        .transpose()
}

#[Object]
impl RoleMutation {
    /// Creates a role.
    #[graphql(guard = "Require(perm::ROLE_WRITE)")]
    async fn create_role(
        &self,
        ctx: &Context<'_>,
        name: String,
        description: Option<String>,
        permissions_ids: Option<Vec<ID>>,
    ) -> Result<Role> {
        let input = RoleInput {
            name: Some(name),
            description,
            permission_ids: permission_ids(permissions_ids)?,
        };
        let mut conn = conn(ctx).await?;
        Ok(service::create(&mut conn, &actor(ctx)?, input)
            .await?
            .into())
    }

    /// Changes the given fields of a role; `permissionsIds` replaces its permissions.
    #[graphql(guard = "Require(perm::ROLE_WRITE)")]
    async fn update_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: Option<String>,
        description: Option<String>,
        permissions_ids: Option<Vec<ID>>,
    ) -> Result<Role> {
        let id = parse_id("id", &id)?;
        let input = RoleInput {
            name,
            description,
            permission_ids: permission_ids(permissions_ids)?,
        };
        let mut conn = conn(ctx).await?;
        Ok(service::update(&mut conn, &actor(ctx)?, id, input)
            .await?
            .into())
    }

    /// Deletes a role and returns it as it was.
    #[graphql(guard = "Require(perm::ROLE_WRITE)")]
    async fn delete_role(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Role>> {
        let id = parse_id("id", &id)?;
        let mut conn = conn(ctx).await?;
        Ok(Some(
            service::delete(&mut conn, &actor(ctx)?, id).await?.into(),
        ))
    }
}
