//! `User`, `allUsers`, `_allUsersMeta`, `me`, and the user mutations.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;

use super::model::{UserFilter as Filter, UserRow, UserSort};
use super::repo::{self, Users};
use super::service::{self, CreateUser, UpdateUser};
use crate::auth::principal::{Require, SignedIn, perm, principal};
use crate::db::Database;
use crate::error::{AppError, AppResult};
use crate::graphql::context::{actor, conn, kept_primary, read};
use crate::graphql::list::{self, Stamps, gid, optional_id, parse_id, time_bounds, utc};
use crate::graphql::listable::{Listable, list_filter, list_query};
use crate::graphql::loaders::relations;
use crate::permission::graphql::Permission;
use crate::role::graphql::Role;

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
        }
    }
}

relations!(User {
    /// Roles held by the user.
    roles: Role = roles_by_user, guard "Require(perm::ROLE_READ)",
        /// Ids of the roles held by the user (for react-admin reference inputs).
        ids roles_ids;
    /// Effective permissions, granted through the user's roles.
    permissions: Permission = permissions_by_user, guard "Require(perm::PERMISSION_READ)";
});

time_bounds!(
    /// When a user last signed in.
    LastLoginAt: "lastLoginAt_gte", "lastLoginAt_lte"
);

list_filter! {
    /// Filter for `allUsers`; all given conditions must hold. Dates take `2026-11-23` or RFC 3339.
    pub struct UserFilter {
        /// Case-insensitive search in email and name.
        q,
        pub email: Option<String>,
        pub name: Option<String>,
        pub active: Option<bool>,
        /// Users holding this role.
        #[graphql(name = "role_id")]
        pub role_id: Option<ID>,
        #[graphql(flatten)]
        pub stamps: Stamps,
        #[graphql(flatten)]
        pub last_login_at: LastLoginAt,
    }
}

impl Listable for User {
    type Listing = Users;
    type Filter = UserFilter;
    const SORTABLE: &'static [(&'static str, UserSort)] = &[
        ("id", UserSort::Id),
        ("email", UserSort::Email),
        ("name", UserSort::Name),
        ("active", UserSort::Active),
        ("createdAt", UserSort::CreatedAt),
        ("updatedAt", UserSort::UpdatedAt),
        ("lastLoginAt", UserSort::LastLoginAt),
    ];

    fn parse(f: UserFilter) -> AppResult<Filter> {
        let (created_at, updated_at) = f.stamps.parse()?;
        Ok(Filter {
            matching: f.matching()?,
            email: f.email,
            name: f.name,
            active: f.active,
            role_id: optional_id("filter.role_id", f.role_id.as_ref())?,
            created_at,
            updated_at,
            last_login_at: f.last_login_at.parse()?,
        })
    }
}

list_query!(
    UserListQuery for User, filter: UserFilter,
    guard: "Require(perm::USER_READ)",
    one: "User", "One user by id.",
    all: "allUsers", "A page of users.",
    meta: "_allUsersMeta", "How many users match (ignoring pagination).",
);

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
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
