//! The one list pipeline: `X(id)`, `allXs` and `_allXsMeta` (react-admin's
//! ra-data-graphql-simple convention) for every resource, written once.
//!
//! A resource implements [`Listable`] on its GraphQL type (which filter input it takes, how
//! that parses into the repository's filter, which fields sort) and declares its three root
//! fields with [`list_query!`]; the repository side is its [`Listing`]. Relations of the
//! rows (a user's roles, a role's permissions) come from the request's loaders, batched per
//! level of the query, so a page costs one statement per selected relation whatever its size.

use async_graphql::{Context, ID, InputType, OutputType};
use scoped_futures::ScopedFutureExt;

use super::Limits;
use super::context::{count, read};
use super::list::{self, ListMetadata, parse_id};
use crate::db::paging::{Listing, SortOrder};
use crate::error::AppResult;

/// A GraphQL type served by the list pipeline.
pub trait Listable:
    OutputType + From<<Self::Listing as Listing>::Row> + Send + Sync + 'static
{
    /// The repository side: one row, a page, a count.
    type Listing: Listing;
    /// The `filter` argument of `allXs` / `_allXsMeta`.
    type Filter: InputType + Default + Send + Sync;

    /// `sortField` values (GraphQL names) and the sort each one means.
    const SORTABLE: &'static [(&'static str, <Self::Listing as Listing>::Sort)];
    /// The sort when the client names no sort field: the first of [`Listable::SORTABLE`].
    const DEFAULT_SORT: <Self::Listing as Listing>::Sort = Self::SORTABLE[0].1;
    /// The order when the client names no sort field.
    const DEFAULT_ORDER: SortOrder = SortOrder::Asc;

    /// Validates the filter input into the repository's filter.
    fn parse(filter: Self::Filter) -> AppResult<<Self::Listing as Listing>::Filter>;
}

/// The arguments `allXs` takes besides its filter.
#[derive(Debug, Default)]
pub struct ListArgs {
    pub page: Option<i32>,
    pub per_page: Option<i32>,
    pub sort_field: Option<String>,
    pub sort_order: Option<String>,
}

/// `X(id)`.
pub async fn one<L: Listable>(ctx: &Context<'_>, id: &ID) -> AppResult<Option<L>> {
    let id = parse_id("id", id)?;
    let row = read(ctx, |c| L::Listing::find(c, id).scope_boxed()).await?;
    Ok(row.map(L::from))
}

/// `allXs`.
pub async fn all<L: Listable>(
    ctx: &Context<'_>,
    args: ListArgs,
    filter: Option<L::Filter>,
) -> AppResult<Vec<L>> {
    let filter = L::parse(filter.unwrap_or_default())?;
    let max = ctx.data_unchecked::<Limits>().max_page_size;
    // A page without `perPage` holds every listed id: react-admin's getMany sends only
    // `filter: { ids }`.
    let listed = L::Listing::matching(&filter).ids.as_ref().map(Vec::len);
    let page = list::page(args.page, args.per_page, max, listed)?;
    let default_order = match L::DEFAULT_ORDER {
        SortOrder::Asc => "ASC",
        SortOrder::Desc => "DESC",
    };
    let order = args
        .sort_order
        .as_deref()
        .or(args.sort_field.is_none().then_some(default_order));
    let sort = list::sort(
        args.sort_field.as_deref(),
        order,
        L::SORTABLE,
        L::DEFAULT_SORT,
    )?;
    let filter = &filter;
    let rows = read(ctx, |c| {
        L::Listing::page(c, filter, sort, page).scope_boxed()
    })
    .await?;
    Ok(rows.into_iter().map(L::from).collect())
}

/// `_allXsMeta`: how many rows match, ignoring pagination.
pub async fn meta<L: Listable>(
    ctx: &Context<'_>,
    filter: Option<L::Filter>,
) -> AppResult<ListMetadata> {
    let filter = L::parse(filter.unwrap_or_default())?;
    let filter = &filter;
    let count = count(ctx, L::Listing::TABLE, filter, |c| {
        L::Listing::count(c, filter).scope_boxed()
    })
    .await?;
    Ok(ListMetadata { count })
}

/// Declares a resource's `X(id)`, `allXs` and `_allXsMeta` as a Query part named `$query`,
/// each guarded by `$guard` and served by [`one`], [`all`] and [`meta`] for `$item`.
macro_rules! list_query {
    (
        $query:ident for $item:ty, filter: $filter:ty, guard: $guard:tt,
        one: $one:tt, $one_doc:tt,
        all: $all:tt, $all_doc:tt,
        meta: $meta:tt, $meta_doc:tt $(,)?
    ) => {
        #[derive(Default)]
        pub struct $query;

        #[::async_graphql::Object]
        impl $query {
            #[doc = $one_doc]
            #[graphql(name = $one, guard = $guard)]
            async fn one(
                &self,
                ctx: &::async_graphql::Context<'_>,
                id: ::async_graphql::ID,
            ) -> ::async_graphql::Result<Option<$item>> {
                Ok($crate::graphql::listable::one::<$item>(ctx, &id).await?)
            }

            #[doc = $all_doc]
            #[graphql(name = $all, guard = $guard)]
            async fn all(
                &self,
                ctx: &::async_graphql::Context<'_>,
                page: Option<i32>,
                per_page: Option<i32>,
                sort_field: Option<String>,
                sort_order: Option<String>,
                filter: Option<$filter>,
            ) -> ::async_graphql::Result<Vec<$item>> {
                let args = $crate::graphql::listable::ListArgs {
                    page,
                    per_page,
                    sort_field,
                    sort_order,
                };
                Ok($crate::graphql::listable::all::<$item>(ctx, args, filter).await?)
            }

            #[doc = $meta_doc]
            #[graphql(name = $meta, guard = $guard)]
            async fn meta(
                &self,
                ctx: &::async_graphql::Context<'_>,
                #[graphql(name = "page")] _page: Option<i32>,
                #[graphql(name = "perPage")] _per_page: Option<i32>,
                #[graphql(name = "sortField")] _sort_field: Option<String>,
                #[graphql(name = "sortOrder")] _sort_order: Option<String>,
                filter: Option<$filter>,
            ) -> ::async_graphql::Result<$crate::graphql::list::ListMetadata> {
                Ok($crate::graphql::listable::meta::<$item>(ctx, filter).await?)
            }
        }
    };
}

pub(crate) use list_query;

/// Declares a resource's `filter` input: `q` (described by the doc comment before it), `ids`
/// and `id`, which every list filter takes, then the resource's own fields; its `matching`
/// checks the first three.
macro_rules! list_filter {
    (
        $(#[$doc:meta])*
        pub struct $name:ident {
            $(#[doc = $q_doc:literal])*
            q,
            $($fields:tt)*
        }
    ) => {
        $(#[$doc])*
        #[derive(::async_graphql::InputObject, Debug, Default)]
        pub struct $name {
            $(#[doc = $q_doc])*
            pub q: Option<String>,
            pub ids: Option<Vec<::async_graphql::ID>>,
            pub id: Option<::async_graphql::ID>,
            $($fields)*
        }

        impl $name {
            /// `q`, `ids` and `id`, checked.
            pub fn matching(&self) -> $crate::error::AppResult<$crate::db::paging::Matching> {
                $crate::graphql::list::matching(
                    self.q.clone(),
                    self.ids.as_deref(),
                    self.id.as_ref(),
                )
            }
        }
    };
}

pub(crate) use list_filter;
