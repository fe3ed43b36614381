//! `AuditLog`, `allAuditLogs`, `_allAuditLogsMeta` (read-only).

use async_graphql::{ComplexObject, Context, ID, InputObject, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::model::{AuditFilter as Filter, AuditRow, AuditSort};
use super::repo::AuditLogs;
use crate::auth::principal::{Require, perm};
use crate::db::paging::SortOrder;
use crate::error::AppResult;
use crate::graphql::list::{either, gid, matching, optional_id, utc, within};
use crate::graphql::listable::{Listable, list_query};
use crate::graphql::loaders::{load_error, loaders};
use crate::user::graphql::User;

/// One recorded action.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex, name = "AuditLog")]
pub struct AuditLog {
    pub id: ID,
    pub at: DateTime<Utc>,
    pub actor_user_id: Option<ID>,
    /// e.g. `user.create`, `role.update`, `auth.login`, `auth.login_failed`, `auth.denied`.
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<ID>,
    /// JSON text: `before`/`after` of the changed fields; secrets are never included.
    pub changes: String,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    #[graphql(skip)]
    actor_row_id: Option<i64>,
}

impl From<AuditRow> for AuditLog {
    fn from(row: AuditRow) -> Self {
        AuditLog {
            id: gid(row.id),
            at: utc(row.at),
            actor_user_id: row.actor_user_id.map(gid),
            action: row.action,
            target_type: row.target_type,
            target_id: row.target_id.map(gid),
            changes: row.changes,
            request_id: row.request_id,
            client_ip: row.client_ip,
            actor_row_id: row.actor_user_id,
        }
    }
}

#[ComplexObject]
impl AuditLog {
    /// The user who acted (null for anonymous actions or deleted users).
    #[graphql(guard = "Require(perm::USER_READ)")]
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.actor_row_id else {
            return Ok(None);
        };
        let row = loaders(ctx)
            .user_by_id
            .load_one(id)
            .await
            .map_err(load_error)?;
        Ok(row.map(Into::into))
    }
}

/// Filter for `allAuditLogs`; all given conditions must hold.
#[derive(InputObject, Debug, Default)]
#[graphql(name = "AuditLogFilter")]
pub struct AuditLogFilter {
    /// Case-insensitive search in action and changes.
    pub q: Option<String>,
    pub ids: Option<Vec<ID>>,
    pub id: Option<ID>,
    pub action: Option<String>,
    /// Entries about this kind of record (`user`, `role`).
    pub target_type: Option<String>,
    /// Entries about this record.
    pub target_id: Option<ID>,
    /// Entries by this user.
    pub actor_user_id: Option<ID>,
    /// Same as `targetType`, under a reference list's name for it.
    #[graphql(name = "target_type")]
    pub target_type_ref: Option<String>,
    /// Same as `targetId`, under a reference list's name for it.
    #[graphql(name = "target_id")]
    pub target_id_ref: Option<ID>,
    /// Same as `actorUserId`, under a reference list's name for it (a user's audit trail).
    #[graphql(name = "actor_user_id")]
    pub actor_user_id_ref: Option<ID>,
    pub request_id: Option<String>,
    #[graphql(name = "at_gte")]
    pub at_gte: Option<String>,
    #[graphql(name = "at_lte")]
    pub at_lte: Option<String>,
}

impl Listable for AuditLog {
    type Listing = AuditLogs;
    type Filter = AuditLogFilter;
    const RESOURCE: &'static str = "audit_log";
    const SORTABLE: &'static [(&'static str, AuditSort)] = &[
        ("id", AuditSort::Id),
        ("at", AuditSort::At),
        ("action", AuditSort::Action),
    ];
    const DEFAULT_SORT: AuditSort = AuditSort::Id;
    /// Newest first.
    const DEFAULT_ORDER: SortOrder = SortOrder::Desc;

    fn parse(f: AuditLogFilter) -> AppResult<Filter> {
        Ok(Filter {
            matching: matching(f.q, f.ids.as_deref(), f.id.as_ref())?,
            action: f.action,
            target_type: either(
                ["filter.target_type", "filter.targetType"],
                [f.target_type_ref, f.target_type],
            )?,
            target_id: either(
                ["filter.target_id", "filter.targetId"],
                [
                    optional_id("filter.target_id", f.target_id_ref.as_ref())?,
                    optional_id("filter.targetId", f.target_id.as_ref())?,
                ],
            )?,
            actor_user_id: either(
                ["filter.actor_user_id", "filter.actorUserId"],
                [
                    optional_id("filter.actor_user_id", f.actor_user_id_ref.as_ref())?,
                    optional_id("filter.actorUserId", f.actor_user_id.as_ref())?,
                ],
            )?,
            request_id: f.request_id,
            at: within("at", f.at_gte.as_deref(), f.at_lte.as_deref())?,
        })
    }
}

list_query!(
    AuditQuery for AuditLog, filter: AuditLogFilter,
    guard: "Require(perm::AUDIT_READ)",
    one: "AuditLog", "One audit entry by id.",
    all: "allAuditLogs", "A page of the audit log (newest first by default).",
    meta: "_allAuditLogsMeta", "How many audit entries match (ignoring pagination).",
);
