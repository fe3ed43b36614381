//! `Role`, `allRoles`, `_allRolesMeta`, and the role mutations.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::model::{RoleFilter as Filter, RoleRow, RoleSort};
use super::repo::Roles;
use super::service::{self, RoleInput};
use crate::auth::principal::{Require, perm};
use crate::error::{AppError, AppResult};
use crate::graphql::context::{actor, conn};
use crate::graphql::list::{self, Stamps, gid, optional_id, parse_id, utc};
use crate::graphql::listable::{Listable, list_filter, list_query};
use crate::graphql::loaders::relations;
use crate::permission::graphql::Permission;
use crate::user::graphql::User;

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
        }
    }
}

relations!(Role {
    /// Permissions the role grants.
    permissions: Permission = permissions_by_role, guard "Require(perm::PERMISSION_READ)",
        /// Ids of the permissions the role grants (for react-admin reference inputs).
        ids permissions_ids;
    /// Users holding the role.
    users: User = users_by_role, guard "Require(perm::USER_READ)";
});

list_filter! {
    /// Filter for `allRoles`; all given conditions must hold. Dates take `2026-11-23` or RFC 3339.
    pub struct RoleFilter {
        /// Case-insensitive search in name and description.
        q,
        pub name: Option<String>,
        pub description: Option<String>,
        /// Roles granting this permission.
        #[graphql(name = "permission_id")]
        pub permission_id: Option<ID>,
        /// Roles held by this user.
        #[graphql(name = "user_id")]
        pub user_id: Option<ID>,
        #[graphql(flatten)]
        pub stamps: Stamps,
    }
}

impl Listable for Role {
    type Listing = Roles;
    type Filter = RoleFilter;
    const SORTABLE: &'static [(&'static str, RoleSort)] = &[
        ("id", RoleSort::Id),
        ("name", RoleSort::Name),
        ("createdAt", RoleSort::CreatedAt),
        ("updatedAt", RoleSort::UpdatedAt),
    ];

    fn parse(f: RoleFilter) -> AppResult<Filter> {
        let (created_at, updated_at) = f.stamps.parse()?;
        Ok(Filter {
            matching: f.matching()?,
            name: f.name,
            description: f.description,
            permission_id: optional_id("filter.permission_id", f.permission_id.as_ref())?,
            user_id: optional_id("filter.user_id", f.user_id.as_ref())?,
            created_at,
            updated_at,
        })
    }
}

list_query!(
    RoleQuery for Role, filter: RoleFilter,
    guard: "Require(perm::ROLE_READ)",
    one: "Role", "One role by id.",
    all: "allRoles", "A page of roles.",
    meta: "_allRolesMeta", "How many roles match (ignoring pagination).",
);

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
