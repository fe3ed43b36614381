//! The list pipeline's data side: what a repository takes to list a resource (a [`Page`], a
//! validated [`Sort`], a filter built from [`Matching`] and [`Within`]), the [`Listing`]
//! trait each listable resource implements once, and the macros that write a filter's common
//! conditions and a sort's `ORDER BY` for any table. Plain types: the GraphQL layer parses
//! list arguments into them (`graphql::list`), the repositories turn them into SQL.

use std::future::Future;

use chrono::NaiveDateTime;
use diesel::QueryResult;

use super::DbConn;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// A validated sort: which column (an allow-listed enum) and which way.
#[derive(Debug, Clone, Copy)]
pub struct Sort<F> {
    pub field: F,
    pub order: SortOrder,
}

/// The conditions every list filter takes: a case-insensitive search term and an id list.
#[derive(Debug, Clone, Default)]
pub struct Matching {
    pub q: Option<String>,
    pub ids: Option<Vec<i64>>,
}

impl Matching {
    /// The LIKE pattern of a non-blank `q`.
    pub fn pattern(&self) -> Option<String> {
        self.q
            .as_deref()
            .filter(|q| !q.trim().is_empty())
            .map(like_pattern)
    }
}

/// Inclusive bounds on a time column (`_gte` / `_lte` in the API).
#[derive(Debug, Clone, Copy, Default)]
pub struct Within {
    pub gte: Option<NaiveDateTime>,
    pub lte: Option<NaiveDateTime>,
}

/// A resource the list pipeline can serve: one row by id, a page of rows, and how many rows
/// match. Implemented once per resource, in its repository, by a marker type.
pub trait Listing: Send + Sync + 'static {
    type Row: Send + 'static;
    type Filter: std::fmt::Debug + Send + Sync + 'static;
    type Sort: Copy + Send + Sync + 'static;

    /// The table listed, which also names the resource's totals in the count cache.
    const TABLE: &'static str;

    /// The conditions of `filter` every list has.
    fn matching(filter: &Self::Filter) -> &Matching;

    fn find(
        conn: &mut DbConn,
        id: i64,
    ) -> impl Future<Output = QueryResult<Option<Self::Row>>> + Send;

    /// The rows of `page` in `sort` order.
    fn page<'c>(
        conn: &'c mut DbConn,
        filter: &'c Self::Filter,
        sort: Sort<Self::Sort>,
        page: Page,
    ) -> impl Future<Output = QueryResult<Vec<Self::Row>>> + Send + 'c;

    fn count<'c>(
        conn: &'c mut DbConn,
        filter: &'c Self::Filter,
    ) -> impl Future<Output = QueryResult<i64>> + Send + 'c;
}

/// Lower-cased `%term%` for case-insensitive `q` search, with LIKE wildcards escaped.
pub fn like_pattern(q: &str) -> String {
    let escaped = q
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A boxed query over `$table` narrowed by a [`Matching`]: `q` over the text columns listed
/// (case-insensitive, any of them), `ids` on the table's `id`. Every filter starts here.
macro_rules! matching {
    ($table:ident, $matching:expr, [$first:ident $(, $more:ident)* $(,)?]) => {{
        let mut query = $table::table.into_boxed();
        if let Some(pattern) = $matching.pattern() {
            use $crate::db::sql::lower;
            query = query.filter(
                lower($table::$first)
                    .like(pattern.clone())
                    .escape('\\')
                    $(.or(lower($table::$more).like(pattern.clone()).escape('\\')))*,
            );
        }
        if let Some(ids) = &$matching.ids {
            query = query.filter($crate::db::sql::in_ids($table::id, ids));
        }
        query
    }};
}

/// Narrows the boxed query `$query` to rows whose `$column` equals each given value; in the
/// form `equal!(query, roles: filter.name, ...)`, to rows whose column of `$table` equals
/// each given filter field of the same name.
macro_rules! equal {
    ($query:ident, $table:ident: $($filter:ident.$field:ident),+ $(,)?) => {
        $(
            if let Some(value) = &$filter.$field {
                $query = $query.filter($table::$field.eq(value));
            }
        )+
    };
    ($query:ident, $($column:expr => $value:expr),+ $(,)?) => {
        $(
            if let Some(value) = $value {
                $query = $query.filter($column.eq(value));
            }
        )+
    };
}

/// Narrows the boxed query `$query` to rows whose `$id` the link table `$link` pairs with
/// `$value` (when given) in its `$by` column: users holding a role, roles granting a
/// permission.
macro_rules! linked_to {
    ($query:ident, $id:expr, $link:ident.$by:ident = $value:expr => $other:ident) => {
        if let Some(value) = $value {
            $query = $query.filter(
                $id.eq_any(
                    $link::table
                        .filter($link::$by.eq(value))
                        .select($link::$other),
                ),
            );
        }
    };
}

/// Narrows the boxed query `$query` to rows whose time columns of `$table` lie [`Within`]
/// the bounds of the filter fields of the same names.
macro_rules! within {
    ($query:ident, $table:ident: $($filter:ident.$field:ident),+ $(,)?) => {
        $(
            if let Some(at) = $filter.$field.gte {
                $query = $query.filter($table::$field.ge(at));
            }
            if let Some(at) = $filter.$field.lte {
                $query = $query.filter($table::$field.le(at));
            }
        )+
    };
}

/// Orders the boxed query `$query` by `$sort` (a [`Sort`]): each arm maps a sort field to its
/// column and, where the column is not unique, the tie-breaking column after it.
macro_rules! sorted {
    ($query:expr, $sort:expr, { $($field:path => $column:expr $(, $tie:expr)?);+ $(;)? }) => {{
        let query = $query;
        let sort = $sort;
        match (sort.field, sort.order) {
            $(
                ($field, $crate::db::paging::SortOrder::Asc) => {
                    query.order(($column.asc(), $($tie.asc(),)?))
                }
                ($field, $crate::db::paging::SortOrder::Desc) => {
                    query.order(($column.desc(), $($tie.desc(),)?))
                }
            )+
        }
    }};
}

/// The rows of `$target` linked to each of `$keys` through the link table `$link` (on its
/// `$key` column), as `(key, row)` ordered by key then `$order`: one statement for a whole
/// batch of a loader.
macro_rules! linked {
    ($conn:ident, $link:ident.$key:ident => $target:ident as $row:ty, $keys:expr, $order:expr) => {
        $crate::db::db_run!($conn: {
            $link::table
                .inner_join($target::table)
                .filter($crate::db::sql::in_ids($link::$key, $keys))
                .select(($link::$key, <$row>::as_select()))
                .order(($link::$key, $order))
                .load($conn)
                .await
        })
    };
}

/// Which of `$ids` are rows of `$table`.
macro_rules! existing {
    ($conn:ident, $table:ident, $ids:expr) => {
        $crate::db::db_run!($conn: {
            $table::table
                .filter($crate::db::sql::in_ids($table::id, $ids))
                .select($table::id)
                .load($conn)
                .await
        })
    };
}

pub(crate) use {equal, existing, linked, linked_to, matching, sorted, within};

/// The `$other` ids the link table `$link` pairs with `$value` in its `$by` column, in order:
/// a user's roles, a role's permissions.
macro_rules! link_ids {
    ($conn:ident, $link:ident.$by:ident = $value:expr => $other:ident) => {
        $crate::db::db_run!($conn: {
            $link::table
                .filter($link::$by.eq($value))
                .select($link::$other)
                .order($link::$other)
                .load($conn)
                .await
        })
    };
}

/// Replaces the rows of the link table `$link` that pair `$value` (in its `$by` column) with
/// one row for each id of `$ids` (in its `$other` column).
macro_rules! set_links {
    ($conn:ident, $link:ident.$by:ident = $value:expr => $other:ident = $ids:expr) => {{
        $crate::db::db_run!($conn: {
            ::diesel::delete($link::table.filter($link::$by.eq($value)))
                .execute($conn)
                .await
        })?;
        let rows: Vec<_> = $ids
            .iter()
            .map(|id| ($link::$by.eq($value), $link::$other.eq(*id)))
            .collect();
        $crate::db::insert_all!($conn, $link::table, rows)
    }};
}

pub(crate) use {link_ids, set_links};

/// The ids of a link set as [`set_links!`] stores them and the audit log shows them: sorted,
/// each once.
pub fn id_set(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Writes the read side of a listed resource, and implements [`Listing`] for the marker type
/// `$name` with it: `find` (the `$row` of `$table` with an id), `count` and `list`.
///
/// Both start from one filtered query: `$table` narrowed by the filter's [`Matching`] (`q`
/// over the `search` columns), then by the `filter` body, which narrows `$query` by the
/// conditions of `$filter` (both names are the caller's); it is written out in each backend's
/// arm of `db_run!`, where each gets its own concrete type. `list` orders it by the `sorted`
/// arms (as [`sorted!`] takes them).
///
/// A plain `list` selects whole rows with `LIMIT`/`OFFSET`. With `in_index_order`, it is a
/// deferred join (see [`crate::db::sql::in_page`]), one statement: the page's ids come from
/// the sort column's index alone, narrowed by the condition `in_index_order` gives for the
/// sort field (one every row meets, so that MariaDB reads the index in order), then the rows
/// by primary key. Whole rows at a deep OFFSET made MariaDB scan and sort the table (the
/// benchmark's deep pages; bench/README.md).
macro_rules! listing {
    (
        $(#[$doc:meta])* $name:ident: $table:ident as $row:ty, $filter:ty, $sort:ty,
        search $search:tt,
        filter |$query:ident, $by:ident| $body:block,
        sorted $arms:tt
        $(, in_index_order |$ids:ident, $field:ident| $ranged:expr)? $(,)?
    ) => {
        pub async fn find(
            conn: &mut $crate::db::DbConn,
            id: i64,
        ) -> ::diesel::QueryResult<Option<$row>> {
            $crate::db::db_run!(conn: {
                $table::table.find(id).select(<$row>::as_select()).first(conn).await.optional()
            })
        }

        pub async fn count(
            conn: &mut $crate::db::DbConn,
            filter: &$filter,
        ) -> ::diesel::QueryResult<i64> {
            $crate::db::db_run!(conn: {
                $crate::db::paging::listing!(
                    @filtered filter, $table, $filter, $search, |$query, $by| $body
                )
                .count()
                .get_result(conn)
                .await
            })
        }

        pub async fn list(
            conn: &mut $crate::db::DbConn,
            filter: &$filter,
            sort: $crate::db::paging::Sort<$sort>,
            page: $crate::db::paging::Page,
        ) -> ::diesel::QueryResult<Vec<$row>> {
            $crate::db::db_run!(conn: {
                let query = $crate::db::paging::listing!(
                    @filtered filter, $table, $filter, $search, |$query, $by| $body
                );
                $crate::db::paging::listing!(
                    @page conn, query, sort, page, $table as $row, $arms
                    $(, |$ids, $field| $ranged)?
                )
            })
        }

        $(#[$doc])*
        pub struct $name;

        impl $crate::db::paging::Listing for $name {
            type Row = $row;
            type Filter = $filter;
            type Sort = $sort;

            const TABLE: &'static str = stringify!($table);

            fn matching(filter: &$filter) -> &$crate::db::paging::Matching {
                &filter.matching
            }

            fn find(
                conn: &mut $crate::db::DbConn,
                id: i64,
            ) -> impl ::std::future::Future<Output = ::diesel::QueryResult<Option<$row>>> + Send {
                find(conn, id)
            }

            fn page<'c>(
                conn: &'c mut $crate::db::DbConn,
                filter: &'c $filter,
                sort: $crate::db::paging::Sort<$sort>,
                page: $crate::db::paging::Page,
            ) -> impl ::std::future::Future<Output = ::diesel::QueryResult<Vec<$row>>> + Send + 'c {
                list(conn, filter, sort, page)
            }

            fn count<'c>(
                conn: &'c mut $crate::db::DbConn,
                filter: &'c $filter,
            ) -> impl ::std::future::Future<Output = ::diesel::QueryResult<i64>> + Send + 'c {
                count(conn, filter)
            }
        }
    };
    (@filtered $value:ident, $table:ident, $filter:ty, [$($search:ident),+], |$query:ident, $by:ident| $body:block) => {{
        let $by: &$filter = $value;
        let mut $query = $crate::db::paging::matching!($table, $by.matching, [$($search),+]);
        $body
        $query
    }};
    (@page $conn:ident, $query:ident, $sort:ident, $page:ident, $table:ident as $row:ty, $arms:tt) => {
        $crate::db::paging::sorted!($query.select(<$row>::as_select()), $sort, $arms)
            .limit($page.limit)
            .offset($page.offset)
            .load($conn)
            .await
    };
    (
        @page $conn:ident, $query:ident, $sort:ident, $page:ident, $table:ident as $row:ty, $arms:tt,
        |$ids:ident, $field:ident| $ranged:expr
    ) => {{
        let $ids = $query.select($table::id);
        let $field = $sort.field;
        let ids = $crate::db::paging::sorted!($ranged, $sort, $arms)
            .limit($page.limit)
            .offset($page.offset);
        let rows = $table::table
            .into_boxed()
            .filter($crate::db::sql::in_page($table::id, ids))
            .select(<$row>::as_select());
        $crate::db::paging::sorted!(rows, $sort, $arms).load($conn).await
    }};
}

pub(crate) use listing;
