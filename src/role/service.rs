//! Role mutations: validation, the admin guardrail, the transaction and its audit row.

use scoped_futures::ScopedFutureExt;
use serde_json::{Value, json};

use super::model::{NewRole, RoleChanges, RoleRow};
use super::{admin, repo};
use crate::audit::{self, Diff, Entry};
use crate::clock::now;
use crate::db::DbConn;
use crate::db::paging::id_set;
use crate::error::{AppError, AppResult, all_found, required_text, unique_as};
use crate::permission;
use crate::request::Actor;

const NAME_TAKEN: &str = "a role with this name already exists";

pub struct RoleInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permission_ids: Option<Vec<i64>>,
}

fn check_name(name: &str) -> AppResult<String> {
    required_text("name", name, 100)
}

fn check_description(description: &str) -> AppResult<String> {
    if description.chars().count() > 1000 {
        return Err(AppError::bad_input(
            "description",
            "description must have at most 1000 characters",
        ));
    }
    Ok(description.trim().to_owned())
}

async fn check_permission_ids(conn: &mut DbConn, ids: &[i64]) -> AppResult<()> {
    let found = permission::repo::existing_ids(conn, ids).await?;
    all_found("permissionsIds", "permission", ids, &found)
}

pub async fn create(conn: &mut DbConn, actor: &Actor<'_>, input: RoleInput) -> AppResult<RoleRow> {
    let name = check_name(input.name.as_deref().unwrap_or_default())?;
    let description = check_description(input.description.as_deref().unwrap_or_default())?;
    let permission_ids = id_set(input.permission_ids.unwrap_or_default());
    conn.transaction::<_, AppError, _>(|conn| {
        async move {
            check_permission_ids(conn, &permission_ids).await?;
            let at = now();
            let role = repo::insert(
                conn,
                &NewRole {
                    name: &name,
                    description: &description,
                    created_at: at,
                    updated_at: at,
                },
            )
            .await
            .map_err(|e| unique_as(e, "name", NAME_TAKEN))?;
            repo::set_permissions(conn, role.id, &permission_ids).await?;
            let after = json!({ "after": snapshot(&role, &permission_ids) });
            audit::record_by(
                conn,
                actor,
                Entry::about("role", role.id, "role.create", after),
            )
            .await?;
            Ok(role)
        }
        .scope_boxed()
    })
    .await
}

pub async fn update(
    conn: &mut DbConn,
    actor: &Actor<'_>,
    id: i64,
    input: RoleInput,
) -> AppResult<RoleRow> {
    let name = input.name.as_deref().map(check_name).transpose()?;
    let description = input
        .description
        .as_deref()
        .map(check_description)
        .transpose()?;
    let permission_ids = input.permission_ids.map(id_set);
    conn.transaction::<_, AppError, _>(|conn| {
        async move {
            let before = repo::find(conn, id).await?.ok_or_else(|| not_found(id))?;
            // Admins are counted by role name, so only a rename can lose them. Any rename
            // counts: the database compares names by its collation (`Admin` is `admin` on
            // MySQL), which a comparison here would not match.
            let renamed = name.as_deref().is_some_and(|n| n != before.name);
            let admins_before = if renamed {
                admin::count_active_admins(conn).await?
            } else {
                0
            };
            let mut diff = Diff::default();
            if let Some(v) = &name {
                diff.field("name", json!(before.name), json!(v));
            }
            if let Some(v) = &description {
                diff.field("description", json!(before.description), json!(v));
            }
            if let Some(ids) = &permission_ids {
                check_permission_ids(conn, ids).await?;
                let current = repo::permission_ids(conn, id).await?;
                if &current != ids {
                    repo::set_permissions(conn, id, ids).await?;
                }
                diff.field("permissionsIds", json!(current), json!(ids));
            }
            repo::update(
                conn,
                id,
                &RoleChanges {
                    name: name.as_deref(),
                    description: description.as_deref(),
                    updated_at: Some(now()),
                },
            )
            .await
            .map_err(|e| unique_as(e, "name", NAME_TAKEN))?;
            admin::keep_an_admin(conn, admins_before, "name").await?;
            audit::record_by(
                conn,
                actor,
                Entry::about("role", id, "role.update", diff.into_changes()),
            )
            .await?;
            repo::find(conn, id).await?.ok_or_else(|| not_found(id))
        }
        .scope_boxed()
    })
    .await
}

pub async fn delete(conn: &mut DbConn, actor: &Actor<'_>, id: i64) -> AppResult<RoleRow> {
    conn.transaction::<_, AppError, _>(|conn| {
        async move {
            let role = repo::find(conn, id).await?.ok_or_else(|| not_found(id))?;
            let admins_before = admin::count_active_admins(conn).await?;
            let permission_ids = repo::permission_ids(conn, id).await?;
            repo::delete(conn, id).await?;
            admin::keep_an_admin(conn, admins_before, "id").await?;
            let before = json!({ "before": snapshot(&role, &permission_ids) });
            audit::record_by(conn, actor, Entry::about("role", id, "role.delete", before)).await?;
            Ok(role)
        }
        .scope_boxed()
    })
    .await
}

/// A role as the audit log shows it created or deleted.
fn snapshot(role: &RoleRow, permission_ids: &[i64]) -> Value {
    json!({ "name": role.name, "description": role.description, "permissionsIds": permission_ids })
}

fn not_found(id: i64) -> AppError {
    AppError::NotFound(format!("no role has id {id}"))
}
