//! Audit rows and the filter over them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

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

#[derive(Insertable, Debug)]
#[diesel(table_name = audit_log)]
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
    pub q: Option<String>,
    pub ids: Option<Vec<i64>>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    pub request_id: Option<String>,
    pub at_gte: Option<NaiveDateTime>,
    pub at_lte: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Copy)]
pub enum AuditSort {
    Id,
    At,
    Action,
}
