//! SQL building blocks both backends have, for use in repository queries.
//!
//! Two of them exist for diesel-async's statement cache. A statement diesel marks unsafe to
//! cache is prepared, executed and closed on every use: on MySQL one more round trip and one
//! more parse on the server each time. A list page of users with their roles paid that twice
//! (the rows by id, the roles by user id); the direct-SQL benchmark ran ~20 % more list
//! requests per second with those two statements cached.

use std::marker::PhantomData;

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::expression::{TypedExpressionType, is_aggregate};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType};

diesel::define_sql_function!(
    /// `lower(text)`: case-insensitive matching that does not depend on the column collation.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text
);

/// The earliest `DATETIME` MySQL accepts, so a bound every stored timestamp meets.
pub const EARLIEST: chrono::NaiveDateTime = chrono::NaiveDateTime::new(
    chrono::NaiveDate::from_ymd_opt(1000, 1, 1).expect("1000-01-01 is a date"),
    chrono::NaiveTime::MIN,
);

/// `column IN (?, …)` over `ids`, in a statement a connection prepares once and reuses.
///
/// diesel's `eq_any` never lets its statement be cached, since the number of placeholders
/// follows the list. Here a list of up to [`PADDED_IDS`] ids is padded, with its last id
/// repeated (`IN` ignores duplicates), to the next power of two, so a query has at most 11
/// shapes (5 up to 16 ids) and each connection keeps one prepared statement per shape it
/// met. A longer list (only a client's `filter: { ids }` can be one) is sent as it is and
/// not cached: padding could push it past the backends' placeholder limits (65,535 on
/// MySQL, 32,766 on SQLite). An empty list matches nothing.
pub fn in_ids<C>(column: C, ids: &[i64]) -> InIds<C> {
    let mut ids = ids.to_vec();
    if let Some(&last) = ids.last()
        && ids.len() <= PADDED_IDS
    {
        ids.resize(ids.len().next_power_of_two(), last);
    }
    InIds { column, ids }
}

/// The longest id list [`in_ids`] pads and lets the statement cache keep.
pub const PADDED_IDS: usize = 1024;

/// See [`in_ids`].
#[derive(Debug, Clone)]
pub struct InIds<C> {
    column: C,
    ids: Vec<i64>,
}

impl<C> Expression for InIds<C>
where
    C: Expression<SqlType = BigInt>,
{
    type SqlType = Bool;
}

impl<C, DB> QueryFragment<DB> for InIds<C>
where
    DB: Backend + HasSqlType<BigInt>,
    C: QueryFragment<DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // Parenthesized like diesel's own operators, so it composes with `and`/`or` alike.
        if self.ids.is_empty() {
            out.push_sql("(1 = 0)");
            return Ok(());
        }
        if self.ids.len() > PADDED_IDS {
            out.unsafe_to_cache_prepared();
        }
        out.push_sql("(");
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (");
        for (i, id) in self.ids.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_bind_param::<BigInt, _>(id)?;
        }
        out.push_sql("))");
        Ok(())
    }
}

/// Not static: the statement cache keys it by its SQL text, which the padding keeps to a few.
impl<C> QueryId for InIds<C> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C, QS> AppearsOnTable<QS> for InIds<C> where
    C: AppearsOnTable<QS> + Expression<SqlType = BigInt>
{
}

impl<C, QS> SelectableExpression<QS> for InIds<C> where
    C: SelectableExpression<QS> + Expression<SqlType = BigInt>
{
}

impl<C: ValidGrouping<()>> ValidGrouping<()> for InIds<C> {
    type IsAggregate = C::IsAggregate;
}

/// `column IN (SELECT page.id FROM (<page>) AS page)`: a page of ids chosen by `page` (a
/// `SELECT id ... ORDER BY ... LIMIT ? OFFSET ?` over the sort column's index) and its rows
/// in one statement, a deferred join. The derived table is what lets a `LIMIT` stand inside
/// an `IN` on MySQL/MariaDB, which refuse `IN (SELECT ... LIMIT)`. The outer query repeats
/// the page's `ORDER BY` (a handful of rows), since `IN` keeps no order.
pub fn in_page<C, Q>(column: C, page: Q) -> InPage<C, Q> {
    InPage { column, page }
}

/// See [`in_page`].
#[derive(Debug, Clone)]
pub struct InPage<C, Q> {
    column: C,
    page: Q,
}

impl<C, Q> Expression for InPage<C, Q>
where
    C: Expression<SqlType = BigInt>,
{
    type SqlType = Bool;
}

impl<C, Q, DB> QueryFragment<DB> for InPage<C, Q>
where
    DB: Backend,
    C: QueryFragment<DB>,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (SELECT page.id FROM (");
        self.page.walk_ast(out.reborrow())?;
        out.push_sql(") AS page))");
        Ok(())
    }
}

/// Not static: the page is a boxed query, which the statement cache keys by its SQL text.
impl<C, Q> QueryId for InPage<C, Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C, Q, QS> AppearsOnTable<QS> for InPage<C, Q> where
    C: AppearsOnTable<QS> + Expression<SqlType = BigInt>
{
}

impl<C, Q, QS> SelectableExpression<QS> for InPage<C, Q> where
    C: SelectableExpression<QS> + Expression<SqlType = BigInt>
{
}

impl<C: ValidGrouping<()>, Q> ValidGrouping<()> for InPage<C, Q> {
    type IsAggregate = C::IsAggregate;
}

/// `UPDATE <table> SET <values> WHERE <filter>` as a statement a connection prepares once per
/// shape. diesel marks every `UPDATE` uncacheable, since a changeset of `Option` fields has as
/// many shapes as combinations of the fields it sets; here the statement cache keys it by its
/// SQL text, and a table's few changesets give a handful of shapes (at most 2^fields).
pub fn update_where<T: diesel::Table, V, W>(
    table: T,
    values: V,
    filter: W,
) -> UpdateWhere<T::FromClause, V, W> {
    UpdateWhere {
        table: table.from_clause(),
        values,
        filter,
    }
}

/// See [`update_where`].
#[derive(Debug, Clone)]
pub struct UpdateWhere<F, V, W> {
    table: F,
    values: V,
    filter: W,
}

impl<F, V, W, DB> QueryFragment<DB> for UpdateWhere<F, V, W>
where
    DB: Backend,
    F: QueryFragment<DB>,
    V: QueryFragment<DB>,
    W: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if self.values.is_noop(out.backend())? {
            return Err(diesel::result::Error::QueryBuilderError(
                "an update with no changes".into(),
            ));
        }
        out.push_sql("UPDATE ");
        self.table.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.values.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())?;
        Ok(())
    }
}

/// Not static: the statement cache keys it by its SQL text.
impl<F, V, W> QueryId for UpdateWhere<F, V, W> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// SQL text fixed at compile time, such as a server variable (`@@last_gtid`), as an
/// expression a connection prepares once. `diesel::dsl::sql` takes any string, so diesel
/// never caches its statements.
pub fn fixed<ST>(sql: &'static str) -> Fixed<ST> {
    Fixed {
        sql,
        _type: PhantomData,
    }
}

/// See [`fixed`].
#[derive(Debug, Clone, Copy)]
pub struct Fixed<ST> {
    sql: &'static str,
    _type: PhantomData<ST>,
}

impl<ST: TypedExpressionType> Expression for Fixed<ST> {
    type SqlType = ST;
}

impl<ST, DB: Backend> QueryFragment<DB> for Fixed<ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(self.sql);
        Ok(())
    }
}

impl<ST> QueryId for Fixed<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST, QS> AppearsOnTable<QS> for Fixed<ST> where Self: Expression {}

impl<ST, QS> SelectableExpression<QS> for Fixed<ST> where Self: Expression {}

impl<ST, GB> ValidGrouping<GB> for Fixed<ST> {
    type IsAggregate = is_aggregate::Never;
}

/// For tests: `query`'s SQL text on MySQL, binds left out, if diesel-async may keep it
/// prepared; `None` if it prepares it on every use.
#[cfg(test)]
pub(crate) fn cached_mysql_text<Q: QueryFragment<diesel::mysql::Mysql>>(
    query: &Q,
) -> Option<String> {
    use diesel::mysql::Mysql;
    let cacheable = query.is_safe_to_cache_prepared(&Mysql).unwrap_or(false);
    let text = diesel::debug_query::<Mysql, _>(query).to_string();
    cacheable.then(|| text.split(" -- ").next().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use diesel::mysql::Mysql;
    use diesel::prelude::*;
    use diesel::sql_types::{Nullable, Text};
    use diesel::sqlite::Sqlite;

    use super::*;
    use crate::db::schema::users;

    fn cacheable<DB: Backend, Q: QueryFragment<DB>>(query: &Q, backend: &DB) -> bool {
        query.is_safe_to_cache_prepared(backend).unwrap_or(false)
    }

    fn sql_of<Q: QueryFragment<Mysql>>(query: &Q) -> String {
        diesel::debug_query::<Mysql, _>(query).to_string()
    }

    #[test]
    fn id_lists_share_a_cacheable_statement_per_power_of_two() {
        let query = |ids: &[i64]| {
            users::table
                .filter(in_ids(users::id, ids))
                .select(users::id)
        };
        let five = query(&[5, 1, 4, 2, 3]);
        assert!(cacheable(&five, &Mysql));
        assert!(cacheable(&five, &Sqlite));
        let shape = |ids: &[i64]| cached_mysql_text(&query(ids));
        assert_eq!(
            shape(&[5, 1, 4, 2, 3]),
            shape(&[7, 8, 9, 10, 11, 12, 13, 14])
        );
        assert_ne!(shape(&[1, 2, 3, 4]), shape(&[1, 2, 3, 4, 5]));
        let text = sql_of(&five);
        assert_eq!(text.matches('?').count(), 8, "{text}");
        assert!(text.ends_with("binds: [5, 1, 4, 2, 3, 3, 3, 3]"), "{text}");
        let long: Vec<i64> = (1..=PADDED_IDS as i64 + 1).collect();
        assert!(
            !cacheable(&query(&long), &Mysql),
            "a long list is not cached"
        );
        let text = sql_of(&query(&long));
        assert_eq!(
            text.matches('?').count(),
            PADDED_IDS + 1,
            "a long list is not padded"
        );
        let single = sql_of(&query(&[42]));
        assert!(
            single.contains("IN (?)") && single.ends_with("binds: [42]"),
            "{single}"
        );
    }

    #[test]
    fn an_empty_id_list_matches_nothing() {
        let text = sql_of(
            &users::table
                .filter(in_ids(users::id, &[]))
                .select(users::id),
        );
        assert!(text.contains("WHERE (1 = 0)"), "{text}");
    }

    #[test]
    fn fixed_sql_is_cacheable() {
        let query = diesel::select(fixed::<Nullable<Text>>("@@last_gtid"));
        assert_eq!(
            cached_mysql_text(&query).as_deref(),
            Some("SELECT @@last_gtid")
        );
    }

    /// diesel's `UPDATE` is never cached; [`update_where`] is, once per set of columns.
    #[test]
    fn updates_are_cacheable_per_shape() {
        use crate::db::schema::users;
        use crate::user::model::UserChanges;
        let update = |changes: &UserChanges<'_>| {
            cached_mysql_text(&update_where(
                users::table,
                changes.as_changeset(),
                users::id.eq(7),
            ))
        };
        let renamed = |name| UserChanges {
            name: Some(name),
            ..Default::default()
        };
        let text = update(&renamed("Ann")).expect("cacheable");
        assert_eq!(
            text,
            "UPDATE `users` SET `name` = ? WHERE (`users`.`id` = ?)"
        );
        assert_eq!(update(&renamed("Bob")).as_deref(), Some(text.as_str()));
        let both = UserChanges {
            name: Some("Ann"),
            active: Some(false),
            ..Default::default()
        };
        assert_ne!(update(&both).as_deref(), Some(text.as_str()));
        assert!(
            cached_mysql_text(&diesel::update(users::table.find(7)).set(&renamed("Ann"))).is_none(),
            "diesel's own update is not cacheable (why update_where exists)"
        );
    }

    /// diesel's `Insertable` default makes every insert uncacheable on MySQL; each of these
    /// runs on a sign-in or a create and must keep `treat_none_as_default_value = false`.
    #[test]
    fn inserts_are_cacheable() {
        use crate::auth::repo::NewRefresh;
        use crate::db::schema::{refresh_tokens, roles};
        use crate::role::model::NewRole;
        use crate::user::model::NewUser;
        let at = chrono::NaiveDateTime::default();
        let user = NewUser {
            email: "a@example.com",
            name: "A",
            password_hash: "h",
            active: true,
            token_version: 0,
            created_at: at,
            updated_at: at,
        };
        let role = NewRole {
            name: "r",
            description: "",
            created_at: at,
            updated_at: at,
        };
        let refresh = NewRefresh {
            user_id: 1,
            token_hash: "h",
            family_id: "f",
            expires_at: at,
            created_at: at,
        };
        let inserts = [
            cached_mysql_text(&diesel::insert_into(users::table).values(&user)),
            cached_mysql_text(&diesel::insert_into(roles::table).values(&role)),
            cached_mysql_text(&diesel::insert_into(refresh_tokens::table).values(&refresh)),
        ];
        for (table, sql) in ["users", "roles", "refresh_tokens"].iter().zip(inserts) {
            assert!(
                sql.is_some(),
                "the insert into {table} is prepared on every use"
            );
        }
    }
}
