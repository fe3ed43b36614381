//! `AuditLog`, `allAuditLogs`, `_allAuditLogsMeta` (read-only).

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;

use super::model::{AuditFilter as Filter, AuditRow, AuditSort};
use super::repo;
use crate::auth::principal::{Require, perm};
use crate::error::AppError;
use crate::graphql::Limits;
use crate::graphql::context::{count, read};
use crate::graphql::list::{
    self, ListMetadata, date_range, either, filter_ids, gid, optional_id, parse_id, utc,
};
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

impl AuditLogFilter {
    fn parse(self) -> Result<Filter, AppError> {
        let (at_gte, at_lte) = date_range("at", self.at_gte.as_deref(), self.at_lte.as_deref())?;
        Ok(Filter {
            q: self.q,
            ids: filter_ids(self.ids.as_deref(), self.id.as_ref())?,
            action: self.action,
            target_type: either(
                ["filter.target_type", "filter.targetType"],
                [self.target_type_ref, self.target_type],
            )?,
            target_id: either(
                ["filter.target_id", "filter.targetId"],
                [
                    optional_id("filter.target_id", self.target_id_ref.as_ref())?,
                    optional_id("filter.targetId", self.target_id.as_ref())?,
                ],
            )?,
            actor_user_id: either(
                ["filter.actor_user_id", "filter.actorUserId"],
                [
                    optional_id("filter.actor_user_id", self.actor_user_id_ref.as_ref())?,
                    optional_id("filter.actorUserId", self.actor_user_id.as_ref())?,
                ],
            )?,
            request_id: self.request_id,
            at_gte,
            at_lte,
        })
    }
}

const SORTABLE: &[(&str, AuditSort)] = &[
    ("id", AuditSort::Id),
    ("at", AuditSort::At),
    ("action", AuditSort::Action),
];

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// One audit entry by id.
    #[graphql(name = "AuditLog", guard = "Require(perm::AUDIT_READ)")]
    async fn audit_log(&self, ctx: &Context<'_>, id: ID) -> Result<Option<AuditLog>> {
        let id = parse_id("id", &id)?;
        let row = read(ctx, |c| repo::find(c, id).scope_boxed()).await?;
        Ok(row.map(Into::into))
    }

    /// A page of the audit log (newest first by default).
    #[graphql(guard = "Require(perm::AUDIT_READ)")]
    async fn all_audit_logs(
        &self,
        ctx: &Context<'_>,
        page: Option<i32>,
        per_page: Option<i32>,
        sort_field: Option<String>,
        sort_order: Option<String>,
        filter: Option<AuditLogFilter>,
    ) -> Result<Vec<AuditLog>> {
        let filter = filter.unwrap_or_default().parse()?;
        let max = ctx.data_unchecked::<Limits>().max_page_size;
        let page = list::page(page, per_page, max, filter.ids.as_ref().map(Vec::len))?;
        let order = sort_order.as_deref().or(if sort_field.is_none() {
            Some("DESC")
        } else {
            None
        });
        let sort = list::sort(sort_field.as_deref(), order, SORTABLE, AuditSort::Id)?;
        let rows = read(ctx, |c| repo::list(c, &filter, sort, page).scope_boxed()).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// How many audit entries match (ignoring pagination).
    #[graphql(name = "_allAuditLogsMeta", guard = "Require(perm::AUDIT_READ)")]
    async fn all_audit_logs_meta(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "page")] _page: Option<i32>,
        #[graphql(name = "perPage")] _per_page: Option<i32>,
        #[graphql(name = "sortField")] _sort_field: Option<String>,
        #[graphql(name = "sortOrder")] _sort_order: Option<String>,
        filter: Option<AuditLogFilter>,
    ) -> Result<ListMetadata> {
        let filter = filter.unwrap_or_default().parse()?;
        let count = count(ctx, "audit_log", &filter, |c| {
            repo::count(c, &filter).scope_boxed()
        })
        .await?;
        Ok(ListMetadata { count })
    }
}
