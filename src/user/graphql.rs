//! `User`, `allUsers`, `_allUsersMeta`, `me`, and the user mutations.

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use scoped_futures::ScopedFutureExt;

use super::model::{UserFilter as Filter, UserRow, UserSort};
use super::repo;
use super::service::{self, CreateUser, UpdateUser};
use crate::auth::principal::{Require, SignedIn, perm, principal};
use crate::db::{Database, DbConn};
use crate::error::AppError;
use crate::graphql::Limits;
use crate::graphql::context::{actor, conn, count, kept_primary, read};
use crate::graphql::list::{
    self, ListMetadata, date_range, filter_ids, gid, optional_id, parse_id, utc,
};
use crate::graphql::loaders::{group, load_error, loaders};
use crate::permission::graphql::Permission;
use crate::permission::model::PermissionRow;
use crate::permission::repo as permission_repo;
use crate::role::graphql::Role;
use crate::role::model::RoleRow;
use crate::role::repo as role_repo;

/// An account that can sign in. The password is never readable.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct User {
    pub id: ID,
    /// Unique, stored lower-cased.
    pub email: String,
    pub name: String,
    /// Inactive users cannot sign in, and their tokens stop working at once.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    #[graphql(skip)]
    pub row_id: i64,
    /// Relations fetched with the page that holds this user (see `all_users`).
    #[graphql(skip)]
    pub prefetched: Prefetched,
}

/// Relations loaded for a whole page at once, so a list costs a fixed number of statements
/// whatever its size; `None` means "ask the loader".
#[derive(Debug, Clone, Default)]
pub struct Prefetched {
    roles: Option<Vec<RoleRow>>,
    permissions: Option<Vec<PermissionRow>>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: gid(row.id),
            email: row.email,
            name: row.name,
            active: row.active,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            last_login_at: row.last_login_at.map(utc),
            row_id: row.id,
            prefetched: Prefetched::default(),
        }
    }
}

impl User {
    async fn role_rows(&self, ctx: &Context<'_>) -> Result<Vec<RoleRow>> {
        if let Some(rows) = &self.prefetched.roles {
            return Ok(rows.clone());
        }
        let rows = loaders(ctx)
            .roles_by_user
            .load_one(self.row_id)
            .await
            .map_err(load_error)?;
        Ok(rows.unwrap_or_default())
    }
}

#[ComplexObject]
impl User {
    /// Roles held by the user.
    #[graphql(guard = "Require(perm::ROLE_READ)")]
    async fn roles(&self, ctx: &Context<'_>) -> Result<Vec<Role>> {
        Ok(self
            .role_rows(ctx)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Ids of the roles held by the user (for react-admin reference inputs).
    #[graphql(guard = "Require(perm::ROLE_READ)")]
    async fn roles_ids(&self, ctx: &Context<'_>) -> Result<Vec<ID>> {
        Ok(self
            .role_rows(ctx)
            .await?
            .into_iter()
            .map(|r| gid(r.id))
            .collect())
    }

    /// Effective permissions, granted through the user's roles.
    #[graphql(guard = "Require(perm::PERMISSION_READ)")]
    async fn permissions(&self, ctx: &Context<'_>) -> Result<Vec<Permission>> {
        let rows = match &self.prefetched.permissions {
            Some(rows) => rows.clone(),
            None => loaders(ctx)
                .permissions_by_user
                .load_one(self.row_id)
                .await
                .map_err(load_error)?
                .unwrap_or_default(),
        };
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

/// Converts a page of rows, fetching each relation the query selects in one statement.
async fn page_of_users(
    ctx: &Context<'_>,
    conn: &mut DbConn,
    rows: Vec<UserRow>,
) -> QueryResult<Vec<User>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let look = ctx.look_ahead();
    let mut roles = if look.field("roles").exists() || look.field("rolesIds").exists() {
        Some(group(&ids, role_repo::by_users(conn, &ids).await?))
    } else {
        None
    };
    let mut permissions = if look.field("permissions").exists() {
        Some(group(&ids, permission_repo::by_users(conn, &ids).await?))
    } else {
        None
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let id = row.id;
            let mut user = User::from(row);
            user.prefetched = Prefetched {
                roles: roles.as_mut().map(|m| m.remove(&id).unwrap_or_default()),
                permissions: permissions
                    .as_mut()
                    .map(|m| m.remove(&id).unwrap_or_default()),
            };
            user
        })
        .collect())
}

/// Filter for `allUsers`; all given conditions must hold. Dates take `2026-11-23` or RFC 3339.
#[derive(InputObject, Debug, Default)]
pub struct UserFilter {
    /// Case-insensitive search in email and name.
    pub q: Option<String>,
    pub ids: Option<Vec<ID>>,
    pub id: Option<ID>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub active: Option<bool>,
    /// Users holding this role.
    #[graphql(name = "role_id")]
    pub role_id: Option<ID>,
    #[graphql(name = "createdAt_gte")]
    pub created_at_gte: Option<String>,
    #[graphql(name = "createdAt_lte")]
    pub created_at_lte: Option<String>,
    #[graphql(name = "updatedAt_gte")]
    pub updated_at_gte: Option<String>,
    #[graphql(name = "updatedAt_lte")]
    pub updated_at_lte: Option<String>,
    #[graphql(name = "lastLoginAt_gte")]
    pub last_login_at_gte: Option<String>,
    #[graphql(name = "lastLoginAt_lte")]
    pub last_login_at_lte: Option<String>,
}

impl UserFilter {
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
        let (last_login_at_gte, last_login_at_lte) = date_range(
            "lastLoginAt",
            self.last_login_at_gte.as_deref(),
            self.last_login_at_lte.as_deref(),
        )?;
        Ok(Filter {
            q: self.q,
            ids: filter_ids(self.ids.as_deref(), self.id.as_ref())?,
            email: self.email,
            name: self.name,
            active: self.active,
            role_id: optional_id("filter.role_id", self.role_id.as_ref())?,
            created_at_gte,
            created_at_lte,
            updated_at_gte,
            updated_at_lte,
            last_login_at_gte,
            last_login_at_lte,
        })
    }
}

const SORTABLE: &[(&str, UserSort)] = &[
    ("id", UserSort::Id),
    ("email", UserSort::Email),
    ("name", UserSort::Name),
    ("active", UserSort::Active),
    ("createdAt", UserSort::CreatedAt),
    ("updatedAt", UserSort::UpdatedAt),
    ("lastLoginAt", UserSort::LastLoginAt),
];

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// One user by id.
    #[graphql(name = "User", guard = "Require(perm::USER_READ)")]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let id = parse_id("id", &id)?;
        let row = read(ctx, |c| repo::find(c, id).scope_boxed()).await?;
        Ok(row.map(Into::into))
    }

    /// A page of users.
    #[graphql(guard = "Require(perm::USER_READ)")]
    async fn all_users(
        &self,
        ctx: &Context<'_>,
        page: Option<i32>,
        per_page: Option<i32>,
        sort_field: Option<String>,
        sort_order: Option<String>,
        filter: Option<UserFilter>,
    ) -> Result<Vec<User>> {
        let filter = filter.unwrap_or_default().parse()?;
        let max = ctx.data_unchecked::<Limits>().max_page_size;
        let page = list::page(page, per_page, max, filter.ids.as_ref().map(Vec::len))?;
        let sort = list::sort(
            sort_field.as_deref(),
            sort_order.as_deref(),
            SORTABLE,
            UserSort::Id,
        )?;
        let filter = &filter;
        let rows = read(ctx, |c| {
            async move {
                let rows = repo::list(c, filter, sort, page).await?;
                page_of_users(ctx, c, rows).await
            }
            .scope_boxed()
        })
        .await?;
        Ok(rows)
    }

    /// How many users match (ignoring pagination).
    #[graphql(name = "_allUsersMeta", guard = "Require(perm::USER_READ)")]
    async fn all_users_meta(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "page")] _page: Option<i32>,
        #[graphql(name = "perPage")] _per_page: Option<i32>,
        #[graphql(name = "sortField")] _sort_field: Option<String>,
        #[graphql(name = "sortOrder")] _sort_order: Option<String>,
        filter: Option<UserFilter>,
    ) -> Result<ListMetadata> {
        let filter = filter.unwrap_or_default().parse()?;
        let count = count(ctx, "users", &filter, |c| {
            repo::count(c, &filter).scope_boxed()
        })
        .await?;
        Ok(ListMetadata { count })
    }

    /// The signed-in user.
    #[graphql(guard = "SignedIn")]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let id = principal(ctx)?.user_id;
        let row = read(ctx, |c| repo::find(c, id).scope_boxed()).await?;
        Ok(row.map(Into::into))
    }
}

#[derive(Default)]
pub struct UserMutation;

fn role_ids(ids: Option<Vec<ID>>) -> Result<Option<Vec<i64>>, AppError> {
    ids.map(|ids| list::parse_ids("rolesIds", &ids)).transpose()
}

#[Object]
impl UserMutation {
    /// Creates a user; `password` must meet the password policy.
    #[graphql(guard = "Require(perm::USER_WRITE)")]
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        email: String,
        name: String,
        password: String,
        active: Option<bool>,
        roles_ids: Option<Vec<ID>>,
    ) -> Result<User> {
        let input = CreateUser {
            email,
            name,
            password,
            active: active.unwrap_or(true),
            role_ids: role_ids(roles_ids)?.unwrap_or_default(),
        };
        let db = ctx.data_unchecked::<Database>();
        // The password is hashed first: the auth check's connection goes back to the pool.
        drop(kept_primary(ctx));
        Ok(service::create(db, &actor(ctx)?, input).await?.into())
    }

    /// Changes the given fields of a user; `rolesIds` replaces the user's roles.
    #[graphql(guard = "Require(perm::USER_WRITE)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "react-admin's data provider sends flat arguments"
    )]
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        id: ID,
        email: Option<String>,
        name: Option<String>,
        password: Option<String>,
        active: Option<bool>,
        roles_ids: Option<Vec<ID>>,
    ) -> Result<User> {
        let id = parse_id("id", &id)?;
        let input = UpdateUser {
            email,
            name,
            password,
            active,
            role_ids: role_ids(roles_ids)?,
        };
        let db = ctx.data_unchecked::<Database>();
        Ok(
            service::update(db, kept_primary(ctx), &actor(ctx)?, id, input)
                .await?
                .into(),
        )
    }

    /// Deletes a user and returns it as it was.
    #[graphql(guard = "Require(perm::USER_WRITE)")]
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let id = parse_id("id", &id)?;
        let mut conn = conn(ctx).await?;
        Ok(Some(
            service::delete(&mut conn, &actor(ctx)?, id).await?.into(),
        ))
    }
}
