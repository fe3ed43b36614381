//! Audit rows and the filter over them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::paging::{Matching, Within};
use crate::db::schema::audit_log;

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub at: NaiveDateTime,
    pub actor_user_id: Option<i64>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<i64>,
    pub changes: String,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
}

/// Every mutation writes one. `None` is bound as NULL rather than written as `DEFAULT`, so
/// the `INSERT` keeps one shape and each connection prepares it once.
#[derive(Insertable, Debug)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
pub struct NewAudit<'a> {
    pub at: NaiveDateTime,
    pub actor_user_id: Option<i64>,
    pub action: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<i64>,
    pub changes: &'a str,
    pub request_id: Option<&'a str>,
    pub client_ip: Option<&'a str>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub matching: Matching,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    pub request_id: Option<String>,
    pub at: Within,
}

#[derive(Debug, Clone, Copy)]
pub enum AuditSort {
    Id,
    At,
    Action,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::sql::cached_mysql_text;

    #[test]
    fn an_audit_insert_has_one_cacheable_shape() {
        let entry = |request_id, client_ip| NewAudit {
            at: NaiveDateTime::default(),
            actor_user_id: None,
            action: "user.update",
            target_type: Some("user"),
            target_id: Some(1),
            changes: "{}",
            request_id,
            client_ip,
        };
        let sql =
            |e: &NewAudit<'_>| cached_mysql_text(&diesel::insert_into(audit_log::table).values(e));
        let without = sql(&entry(None, None));
        assert!(without.is_some(), "prepared on every use");
        assert_eq!(without, sql(&entry(Some("req-1"), Some("10.0.0.1"))));
    }
}
