//! `Permission`, `allPermissions`, `_allPermissionsMeta`.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use scoped_futures::ScopedFutureExt;

use super::model::{PermissionFilter as Filter, PermissionRow, PermissionSort};
use super::repo;
use crate::auth::principal::{Require, perm};
use crate::error::AppError;
use crate::graphql::Limits;
use crate::graphql::context::{count, read};
use crate::graphql::list::{self, ListMetadata};

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
            id: ID::from(row.id.to_string()),
            code: row.code,
            description: row.description,
        }
    }
}

/// Filter for `allPermissions`; all given conditions must hold.
#[derive(InputObject, Debug, Default)]
pub struct PermissionFilter {
    /// Case-insensitive search in code and description.
    pub q: Option<String>,
    pub ids: Option<Vec<ID>>,
    pub id: Option<ID>,
    pub code: Option<String>,
    /// Only permissions granted by this role.
    #[graphql(name = "role_id")]
    pub role_id: Option<ID>,
}

impl PermissionFilter {
    fn parse(self) -> Result<Filter, AppError> {
        Ok(Filter {
            q: self.q,
            ids: list::filter_ids(self.ids.as_deref(), self.id.as_ref())?,
            code: self.code,
            role_id: list::optional_id("filter.role_id", self.role_id.as_ref())?,
        })
    }
}

const SORTABLE: &[(&str, PermissionSort)] =
    &[("id", PermissionSort::Id), ("code", PermissionSort::Code)];

#[derive(Default)]
pub struct PermissionQuery;

#[Object]
impl PermissionQuery {
    /// One permission by id.
    #[graphql(name = "Permission", guard = "Require(perm::PERMISSION_READ)")]
    async fn permission(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Permission>> {
        let id = list::parse_id("id", &id)?;
        let row = read(ctx, |c| repo::find(c, id).scope_boxed()).await?;
        Ok(row.map(Into::into))
    }

    /// A page of the permission catalogue.
    #[graphql(guard = "Require(perm::PERMISSION_READ)")]
    async fn all_permissions(
        &self,
        ctx: &Context<'_>,
        page: Option<i32>,
        per_page: Option<i32>,
        sort_field: Option<String>,
        sort_order: Option<String>,
        filter: Option<PermissionFilter>,
    ) -> Result<Vec<Permission>> {
        let filter = filter.unwrap_or_default().parse()?;
        let max = ctx.data_unchecked::<Limits>().max_page_size;
        let page = list::page(page, per_page, max, filter.ids.as_ref().map(Vec::len))?;
        let sort = list::sort(
            sort_field.as_deref(),
            sort_order.as_deref(),
            SORTABLE,
            PermissionSort::Id,
        )?;
        let rows = read(ctx, |c| repo::list(c, &filter, sort, page).scope_boxed()).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// How many permissions match (ignoring pagination).
    #[graphql(name = "_allPermissionsMeta", guard = "Require(perm::PERMISSION_READ)")]
    async fn all_permissions_meta(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "page")] _page: Option<i32>,
        #[graphql(name = "perPage")] _per_page: Option<i32>,
        #[graphql(name = "sortField")] _sort_field: Option<String>,
        #[graphql(name = "sortOrder")] _sort_order: Option<String>,
        filter: Option<PermissionFilter>,
    ) -> Result<ListMetadata> {
        let filter = filter.unwrap_or_default().parse()?;
        let count = count(ctx, "permissions", &filter, |c| {
            repo::count(c, &filter).scope_boxed()
        })
        .await?;
        Ok(ListMetadata { count })
    }
}
