//! User mutations: validation, guardrails, the transaction and its audit row.

use scoped_futures::ScopedFutureExt;
use serde_json::{Value, json};

use super::model::{NewUser, UserChanges, UserRow};
use super::repo;
use crate::audit::{self, Diff, Entry};
use crate::auth::{password, repo as auth_repo};
use crate::clock::now;
use crate::db::paging::id_set;
use crate::db::{Database, DbConn};
use crate::error::{AppError, AppResult, all_found, required_text, unique_as};
use crate::request::Actor;
use crate::role::{self, admin};

pub struct CreateUser {
    pub email: String,
    pub name: String,
    pub password: String,
    pub active: bool,
    pub role_ids: Vec<i64>,
}

#[derive(Default)]
pub struct UpdateUser {
    pub email: Option<String>,
    pub name: Option<String>,
    pub password: Option<String>,
    pub active: Option<bool>,
    pub role_ids: Option<Vec<i64>>,
}

const EMAIL_TAKEN: &str = "a user with this email already exists";

/// Lower-cases and checks an email address; the error names `field`.
pub fn normalize_email(field: &str, raw: &str) -> AppResult<String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(AppError::bad_input(
            field,
            format!("'{}' is not a valid email address", raw.trim()),
        ))
    }
}

fn check_name(name: &str) -> AppResult<String> {
    required_text("name", name, 200)
}

/// Fails with `BAD_USER_INPUT` on `field` unless every id exists.
pub async fn check_role_ids(conn: &mut DbConn, field: &str, ids: &[i64]) -> AppResult<()> {
    let found = role::repo::existing_ids(conn, ids).await?;
    all_found(field, "role", ids, &found)
}

/// Creates a user. The password is hashed before a connection is taken from the pool.
pub async fn create(db: &Database, actor: &Actor<'_>, input: CreateUser) -> AppResult<UserRow> {
    let email = normalize_email("email", &input.email)?;
    let name = check_name(&input.name)?;
    password::check_policy("password", &input.password, actor.password_min_length)?;
    let hash = password::hash(input.password).await?;
    let role_ids = id_set(input.role_ids);
    let (mut conn, _) = db.write().await?;
    conn.transaction::<_, AppError, _>(|conn| {
        async move {
            check_role_ids(conn, "rolesIds", &role_ids).await?;
            let at = now();
            let user = repo::insert(
                conn,
                &NewUser {
                    email: &email,
                    name: &name,
                    password_hash: &hash,
                    active: input.active,
                    token_version: 0,
                    created_at: at,
                    updated_at: at,
                },
            )
            .await
            .map_err(|e| unique_as(e, "email", EMAIL_TAKEN))?;
            repo::set_roles(conn, user.id, &role_ids).await?;
            let after = json!({ "after": snapshot(&user, &role_ids) });
            audit::record_by(
                conn,
                actor,
                Entry::about("user", user.id, "user.create", after),
            )
            .await?;
            Ok(user)
        }
        .scope_boxed()
    })
    .await
}

/// Updates a user. A new password is hashed before a connection is taken from the pool.
/// Changes a user, on `kept` (the request's primary connection) unless a new password must
/// be hashed first: then `kept` goes back to the pool before the hash, and a connection is
/// taken after it.
pub async fn update(
    db: &Database,
    kept: Option<DbConn>,
    actor: &Actor<'_>,
    id: i64,
    input: UpdateUser,
) -> AppResult<UserRow> {
    let mut kept = kept;
    let email = input
        .email
        .as_deref()
        .map(|e| normalize_email("email", e))
        .transpose()?;
    let name = input.name.as_deref().map(check_name).transpose()?;
    if input.active == Some(false) && id == actor.user_id {
        return Err(AppError::bad_input(
            "active",
            "you cannot deactivate yourself",
        ));
    }
    let hash = match input.password {
        Some(p) => {
            password::check_policy("password", &p, actor.password_min_length)?;
            drop(kept.take());
            Some(password::hash(p).await?)
        }
        None => None,
    };
    let role_ids = input.role_ids.map(id_set);
    let mut conn = match kept {
        Some(conn) => conn,
        None => db.write().await?.0,
    };
    conn.transaction::<_, AppError, _>(|conn| {
        async move {
            let before = repo::find(conn, id).await?.ok_or_else(|| not_found(id))?;
            let mut diff = Diff::default();
            if let Some(v) = &email {
                diff.field("email", json!(before.email), json!(v));
            }
            if let Some(v) = &name {
                diff.field("name", json!(before.name), json!(v));
            }
            if let Some(v) = input.active {
                diff.field("active", json!(before.active), json!(v));
            }
            let mut roles_changed = false;
            if let Some(ids) = &role_ids {
                check_role_ids(conn, "rolesIds", ids).await?;
                let current = repo::role_ids(conn, id).await?;
                roles_changed = &current != ids;
                diff.field("rolesIds", json!(current), json!(ids));
            }
            let deactivated = before.active && input.active == Some(false);
            // Only these two can take the admin role from an active user; any other change
            // (a new name, say) skips both counts.
            let admins_before = if deactivated || roles_changed {
                admin::count_active_admins(conn).await?
            } else {
                0
            };
            if hash.is_some() {
                diff.secret_changed("password");
            }
            let revoke = hash.is_some() || deactivated || roles_changed;
            let at = now();
            repo::update(
                conn,
                id,
                &UserChanges {
                    email: email.as_deref(),
                    name: name.as_deref(),
                    password_hash: hash.as_deref(),
                    active: input.active,
                    token_version: revoke.then_some(before.token_version + 1),
                    updated_at: Some(at),
                    last_login_at: None,
                },
            )
            .await
            .map_err(|e| unique_as(e, "email", EMAIL_TAKEN))?;
            if let Some(ids) = &role_ids
                && roles_changed
            {
                repo::set_roles(conn, id, ids).await?;
            }
            if hash.is_some() || deactivated {
                auth_repo::revoke_user_refresh_tokens(conn, id).await?;
            }
            admin::keep_an_admin(
                conn,
                admins_before,
                if deactivated { "active" } else { "rolesIds" },
            )
            .await?;
            let changes = diff.into_changes();
            audit::record_by(
                conn,
                actor,
                Entry::about("user", id, "user.update", changes),
            )
            .await?;
            // The answer is the row as this transaction left it (it holds the row's lock):
            // no statement to read it back.
            Ok(UserRow {
                email: email.unwrap_or(before.email),
                name: name.unwrap_or(before.name),
                active: input.active.unwrap_or(before.active),
                token_version: before.token_version + i32::from(revoke),
                updated_at: at,
                ..before
            })
        }
        .scope_boxed()
    })
    .await
}

pub async fn delete(conn: &mut DbConn, actor: &Actor<'_>, id: i64) -> AppResult<UserRow> {
    if id == actor.user_id {
        return Err(AppError::bad_input("id", "you cannot delete yourself"));
    }
    conn.transaction::<_, AppError, _>(|conn| {
        async move {
            let user = repo::find(conn, id).await?.ok_or_else(|| not_found(id))?;
            let admins_before = admin::count_active_admins(conn).await?;
            let role_ids = repo::role_ids(conn, id).await?;
            repo::delete(conn, id).await?;
            admin::keep_an_admin(conn, admins_before, "id").await?;
            let before = json!({ "before": snapshot(&user, &role_ids) });
            audit::record_by(conn, actor, Entry::about("user", id, "user.delete", before)).await?;
            Ok(user)
        }
        .scope_boxed()
    })
    .await
}

/// A user as the audit log shows them created or deleted.
fn snapshot(user: &UserRow, role_ids: &[i64]) -> Value {
    json!({ "email": user.email, "name": user.name, "active": user.active, "rolesIds": role_ids })
}

pub fn not_found(id: i64) -> AppError {
    AppError::NotFound(format!("no user has id {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("email", " Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        assert!(normalize_email("email", "admin@localhost").is_ok());
        for bad in ["", "ann", "@x", "ann@", "a b@x.y", "a@b@c"] {
            let err = normalize_email("email", bad).unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT", "{bad}");
        }
    }
}
