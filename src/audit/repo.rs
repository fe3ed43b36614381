//! Audit queries; each body is written once and compiled per backend by `db_run!`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::model::{AuditFilter, AuditRow, AuditSort, NewAudit};
use crate::db::DbConn;
use crate::db::db_run;
use crate::db::paging::{equal, listing, within};
use crate::db::schema::audit_log;
use crate::db::sql::EARLIEST;

pub async fn insert(conn: &mut DbConn, entry: &NewAudit<'_>) -> QueryResult<()> {
    db_run!(conn: {
        diesel::insert_into(audit_log::table).values(entry).execute(conn).await.map(|_| ())
    })
}

listing!(
    /// The audit log (see [`crate::db::paging::Listing`]). It only grows, so its pages are a
    /// deferred join like the users list's.
    AuditLogs: audit_log as AuditRow, AuditFilter, AuditSort,
    search [action, changes],
    filter |query, filter| {
        equal!(query, audit_log:
            filter.action,
            filter.target_type,
            filter.target_id,
            filter.actor_user_id,
            filter.request_id,
        );
        within!(query, audit_log: filter.at);
    },
    sorted {
        AuditSort::Id => audit_log::id;
        AuditSort::At => audit_log::at, audit_log::id;
        AuditSort::Action => audit_log::action, audit_log::id;
    },
    in_index_order |ids, field| match field {
        AuditSort::Id => ids,
        AuditSort::At => ids.filter(audit_log::at.ge(EARLIEST)),
        AuditSort::Action => ids.filter(audit_log::action.ge("")),
    }
);
