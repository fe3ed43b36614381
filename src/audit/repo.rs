//! Audit queries; each body is written once and compiled per backend by `db_run!`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::model::{AuditFilter, AuditRow, AuditSort, NewAudit};
use crate::db::DbConn;
use crate::db::db_run;
use crate::db::paging::{Page, Sort, SortOrder, in_page_order, like_pattern};
use crate::db::schema::audit_log;
use crate::db::sql::{EARLIEST, in_ids, lower};

pub async fn insert(conn: &mut DbConn, entry: &NewAudit<'_>) -> QueryResult<()> {
    db_run!(conn: {
        diesel::insert_into(audit_log::table).values(entry).execute(conn).await.map(|_| ())
    })
}

macro_rules! filtered {
    ($filter:expr) => {{
        let filter: &AuditFilter = $filter;
        let mut query = audit_log::table.into_boxed();
        if let Some(q) = filter.q.as_deref().filter(|q| !q.trim().is_empty()) {
            let pattern = like_pattern(q);
            query = query.filter(
                lower(audit_log::action)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(audit_log::changes).like(pattern).escape('\\')),
            );
        }
        if let Some(ids) = &filter.ids {
            query = query.filter(in_ids(audit_log::id, ids));
        }
        if let Some(v) = &filter.action {
            query = query.filter(audit_log::action.eq(v.clone()));
        }
        if let Some(v) = &filter.target_type {
            query = query.filter(audit_log::target_type.eq(v.clone()));
        }
        if let Some(v) = filter.target_id {
            query = query.filter(audit_log::target_id.eq(v));
        }
        if let Some(v) = filter.actor_user_id {
            query = query.filter(audit_log::actor_user_id.eq(v));
        }
        if let Some(v) = &filter.request_id {
            query = query.filter(audit_log::request_id.eq(v.clone()));
        }
        if let Some(v) = filter.at_gte {
            query = query.filter(audit_log::at.ge(v));
        }
        if let Some(v) = filter.at_lte {
            query = query.filter(audit_log::at.le(v));
        }
        query
    }};
}

/// A page of entries in two steps, like the users list: the page's ids from an index, then
/// those rows by key. The log only grows, and whole rows at a deep OFFSET made MariaDB scan
/// and sort the table.
pub async fn list(
    conn: &mut DbConn,
    filter: &AuditFilter,
    sort: Sort<AuditSort>,
    page: Page,
) -> QueryResult<Vec<AuditRow>> {
    let ids = page_ids(conn, filter, sort, page).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = db_run!(conn: {
        audit_log::table
            .filter(in_ids(audit_log::id, &ids))
            .select(AuditRow::as_select())
            .load(conn)
            .await
    })?;
    in_page_order(&ids, &mut rows, |row| row.id);
    Ok(rows)
}

async fn page_ids(
    conn: &mut DbConn,
    filter: &AuditFilter,
    sort: Sort<AuditSort>,
    page: Page,
) -> QueryResult<Vec<i64>> {
    db_run!(conn: {
        let mut query = filtered!(filter).select(audit_log::id);
        // A condition every row meets over the sort column, so MariaDB reads its index in
        // order instead of a full scan and filesort (see user::repo::page_ids).
        query = match sort.field {
            AuditSort::Id => query,
            AuditSort::At => query.filter(audit_log::at.ge(EARLIEST)),
            AuditSort::Action => query.filter(audit_log::action.ge("")),
        };
        query = match (sort.field, sort.order) {
            (AuditSort::Id, SortOrder::Asc) => query.order(audit_log::id.asc()),
            (AuditSort::Id, SortOrder::Desc) => query.order(audit_log::id.desc()),
            (AuditSort::At, SortOrder::Asc) => query.order((audit_log::at.asc(), audit_log::id.asc())),
            (AuditSort::At, SortOrder::Desc) => query.order((audit_log::at.desc(), audit_log::id.desc())),
            (AuditSort::Action, SortOrder::Asc) => query.order((audit_log::action.asc(), audit_log::id.asc())),
            (AuditSort::Action, SortOrder::Desc) => query.order((audit_log::action.desc(), audit_log::id.desc())),
        };
        query.limit(page.limit).offset(page.offset).load(conn).await
    })
}

pub async fn count(conn: &mut DbConn, filter: &AuditFilter) -> QueryResult<i64> {
    db_run!(conn: { filtered!(filter).count().get_result(conn).await })
}

pub async fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<AuditRow>> {
    db_run!(conn: {
        audit_log::table.find(id).select(AuditRow::as_select()).first(conn).await.optional()
    })
}
