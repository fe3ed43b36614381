//! Audit queries; each body is written once and compiled per backend by `db_run!`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::model::{AuditFilter, AuditRow, AuditSort, NewAudit};
use crate::db::DbConn;
use crate::db::db_run;
use crate::db::paging::{Page, Sort, equal, in_page_order, listing, matching, sorted, within};
use crate::db::schema::audit_log;
use crate::db::sql::{EARLIEST, in_ids};

pub async fn insert(conn: &mut DbConn, entry: &NewAudit<'_>) -> QueryResult<()> {
    db_run!(conn: {
        diesel::insert_into(audit_log::table).values(entry).execute(conn).await.map(|_| ())
    })
}

macro_rules! filtered {
    ($filter:expr) => {{
        let filter: &AuditFilter = $filter;
        let mut query = matching!(audit_log, filter.matching, [action, changes]);
        equal!(query, audit_log:
            filter.action,
            filter.target_type,
            filter.target_id,
            filter.actor_user_id,
            filter.request_id,
        );
        within!(query, audit_log: filter.at);
        query
    }};
}

listing!(
    /// The audit log (see [`crate::db::paging::Listing`]).
    AuditLogs: audit_log as AuditRow, AuditFilter, AuditSort
);

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
        query = sorted!(query, sort, {
            AuditSort::Id => audit_log::id;
            AuditSort::At => audit_log::at, audit_log::id;
            AuditSort::Action => audit_log::action, audit_log::id;
        });
        query.limit(page.limit).offset(page.offset).load(conn).await
    })
}
