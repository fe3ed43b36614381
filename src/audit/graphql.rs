//! `AuditLog`, `allAuditLogs`, `_allAuditLogsMeta` (read-only).

use async_graphql::{ComplexObject, Context, ID, InputObject, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::model::{AuditFilter as Filter, AuditRow, AuditSort};
use super::repo::AuditLogs;
use crate::auth::principal::{Require, perm};
use crate::db::paging::SortOrder;
use crate::error::AppResult;
use crate::graphql::list::{either, gid, optional_id, time_bounds, utc};
use crate::graphql::listable::{Listable, list_filter, list_query};
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

/// The target and actor conditions again, under the names react-admin's reference lists
/// give them (`target_id` beside `targetId`); flattened into [`AuditLogFilter`].
#[derive(InputObject, Debug, Default)]
#[graphql(rename_fields = "snake_case")]
pub struct ByReference {
    /// Same as `targetType`, under a reference list's name for it.
    pub target_type: Option<String>,
    /// Same as `targetId`, under a reference list's name for it.
    pub target_id: Option<ID>,
    /// Same as `actorUserId`, under a reference list's name for it (a user's audit trail).
    pub actor_user_id: Option<ID>,
}

time_bounds!(
    /// When an entry was recorded.
    At: "at_gte", "at_lte"
);

list_filter! {
    /// Filter for `allAuditLogs`; all given conditions must hold.
    pub struct AuditLogFilter {
        /// Case-insensitive search in action and changes.
        q,
        pub action: Option<String>,
        /// Entries about this kind of record (`user`, `role`).
        pub target_type: Option<String>,
        /// Entries about this record.
        pub target_id: Option<ID>,
        /// Entries by this user.
        pub actor_user_id: Option<ID>,
        #[graphql(flatten)]
        pub by_reference: ByReference,
        pub request_id: Option<String>,
        #[graphql(flatten)]
        pub at: At,
    }
}

impl Listable for AuditLog {
    type Listing = AuditLogs;
    type Filter = AuditLogFilter;
    const SORTABLE: &'static [(&'static str, AuditSort)] = &[
        ("id", AuditSort::Id),
        ("at", AuditSort::At),
        ("action", AuditSort::Action),
    ];
    /// Newest first.
    const DEFAULT_ORDER: SortOrder = SortOrder::Desc;

    fn parse(f: AuditLogFilter) -> AppResult<Filter> {
        Ok(Filter {
            matching: f.matching()?,
            action: f.action,
            target_type: either(
                ["filter.target_type", "filter.targetType"],
                [f.by_reference.target_type, f.target_type],
            )?,
            target_id: either(
                ["filter.target_id", "filter.targetId"],
                [
                    optional_id("filter.target_id", f.by_reference.target_id.as_ref())?,
                    optional_id("filter.targetId", f.target_id.as_ref())?,
                ],
            )?,
            actor_user_id: either(
                ["filter.actor_user_id", "filter.actorUserId"],
                [
                    optional_id(
                        "filter.actor_user_id",
                        f.by_reference.actor_user_id.as_ref(),
                    )?,
                    optional_id("filter.actorUserId", f.actor_user_id.as_ref())?,
                ],
            )?,
            request_id: f.request_id,
            at: f.at.parse()?,
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
