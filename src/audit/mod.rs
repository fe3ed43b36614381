//! The audit trail: who did what to which record, from where. Every mutation writes its audit
//! row in the same transaction as its change, so both land or neither does.

pub mod graphql;
pub mod model;
pub mod repo;

use serde_json::Value;

use crate::db::{Database, DbConn};
use crate::request::{Actor, RequestContext};
use model::NewAudit;

/// One entry to record; `changes` holds before/after of the changed fields, never secrets.
pub struct Entry<'a> {
    pub action: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<i64>,
    pub changes: Value,
}

impl<'a> Entry<'a> {
    /// An entry about the `target_type` record `id`.
    pub fn about(target_type: &'a str, id: i64, action: &'a str, changes: Value) -> Self {
        Entry {
            action,
            target_type: Some(target_type),
            target_id: Some(id),
            changes,
        }
    }
}

/// Collects before/after values of the fields an update changes, for an entry's `changes`.
#[derive(Default)]
pub struct Diff {
    before: serde_json::Map<String, Value>,
    after: serde_json::Map<String, Value>,
}

impl Diff {
    /// Records `field` if its value changes.
    pub fn field(&mut self, field: &str, was: Value, is: Value) {
        if was != is {
            self.before.insert(field.to_owned(), was);
            self.after.insert(field.to_owned(), is);
        }
    }

    /// Records that a secret changed, without its value.
    pub fn secret_changed(&mut self, field: &str) {
        self.after.insert(field.to_owned(), Value::from("changed"));
    }

    pub fn into_changes(self) -> Value {
        serde_json::json!({ "before": self.before, "after": self.after })
    }
}

/// Writes `entry` on `conn` (inside the caller's transaction).
pub async fn record(
    conn: &mut DbConn,
    request: &RequestContext,
    actor: Option<i64>,
    entry: Entry<'_>,
) -> diesel::QueryResult<()> {
    let changes = entry.changes.to_string();
    repo::insert(
        conn,
        &NewAudit {
            at: crate::clock::now(),
            actor_user_id: actor,
            action: entry.action,
            target_type: entry.target_type,
            target_id: entry.target_id,
            changes: &changes,
            request_id: Some(request.request_id.as_str()).filter(|s| !s.is_empty()),
            client_ip: request.client_ip.as_deref(),
        },
    )
    .await
}

/// Writes `entry` as `actor`'s (inside the caller's transaction).
pub async fn record_by(
    conn: &mut DbConn,
    actor: &Actor<'_>,
    entry: Entry<'_>,
) -> diesel::QueryResult<()> {
    record(conn, actor.request, Some(actor.user_id), entry).await
}

/// Records an entry on its own primary connection, outside any transaction: for events whose
/// request fails (refused sign-ins, permission denials). A failure here is logged, not raised.
pub async fn record_standalone(
    db: &Database,
    request: &RequestContext,
    actor: Option<i64>,
    entry: Entry<'_>,
) {
    let action = entry.action.to_owned();
    let result = match db.write().await {
        Ok((mut conn, _)) => record(&mut conn, request, actor, entry)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = result {
        tracing::warn!(%action, %error, "could not write audit entry");
    }
}

/// Audits that `actor` was refused `field` for lack of `permission`, on a primary connection
/// of its own (the caller hands back any connection it keeps first: on SQLite the primary
/// pool has one connection).
pub async fn record_denial(
    db: &Database,
    request: &RequestContext,
    actor: i64,
    field: &str,
    permission: &str,
) {
    record_standalone(
        db,
        request,
        Some(actor),
        Entry {
            action: "auth.denied",
            target_type: None,
            target_id: None,
            changes: serde_json::json!({ "field": field, "permission": permission }),
        },
    )
    .await;
}
