//! `Permission`, `allPermissions`, `_allPermissionsMeta`.

use async_graphql::{ID, SimpleObject};

use super::model::{PermissionFilter as Filter, PermissionRow, PermissionSort};
use super::repo::Permissions;
use crate::auth::principal::{Require, perm};
use crate::error::AppResult;
use crate::graphql::list::{gid, optional_id};
use crate::graphql::listable::{Listable, list_filter, list_query};

/// A permission code such as `user:read`, granted to users through roles.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Permission")]
pub struct Permission {
    pub id: ID,
    /// `resource:action`.
    pub code: String,
    pub description: String,
}

impl From<PermissionRow> for Permission {
    fn from(row: PermissionRow) -> Self {
        Permission {
            id: gid(row.id),
            code: row.code,
            description: row.description,
        }
    }
}

list_filter! {
    /// Filter for `allPermissions`; all given conditions must hold.
    pub struct PermissionFilter {
        /// Case-insensitive search in code and description.
        q,
        pub code: Option<String>,
        /// Only permissions granted by this role.
        #[graphql(name = "role_id")]
        pub role_id: Option<ID>,
    }
}

impl Listable for Permission {
    type Listing = Permissions;
    type Filter = PermissionFilter;
    const SORTABLE: &'static [(&'static str, PermissionSort)] =
        &[("id", PermissionSort::Id), ("code", PermissionSort::Code)];

    fn parse(f: PermissionFilter) -> AppResult<Filter> {
        Ok(Filter {
            matching: f.matching()?,
            code: f.code,
            role_id: optional_id("filter.role_id", f.role_id.as_ref())?,
        })
    }
}

list_query!(
    PermissionQuery for Permission, filter: PermissionFilter,
    guard: "Require(perm::PERMISSION_READ)",
    one: "Permission", "One permission by id.",
    all: "allPermissions", "A page of the permission catalogue.",
    meta: "_allPermissionsMeta", "How many permissions match (ignoring pagination).",
);
