//! Sign-in, refresh-token rotation, sign-out and password change.
//!
//! Refresh tokens are random 256-bit strings; only their SHA-256 is stored. Each use spends
//! the token and issues the next one in the same chain (`family_id`); presenting a spent
//! token again means it leaked, so the whole chain is revoked.

use std::time::Duration;

use scoped_futures::ScopedFutureExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::jwt::JwtKeys;
use super::rate_limit::LoginLimits;
use super::{password, repo};
use crate::audit::{self, Entry};
use crate::clock::now;
use crate::db::{Database, DbConn};
use crate::error::{AppError, AppResult};
use crate::request::RequestContext;
use crate::user::model::{UserChanges, UserRow};
use crate::user::repo as user_repo;

/// Everything authentication needs; shared by all requests.
pub struct AuthState {
    pub keys: JwtKeys,
    pub limits: LoginLimits,
    pub refresh_ttl: Duration,
}

/// What a successful sign-in or refresh hands out.
pub struct Session {
    pub token: String,
    pub expires_at: i64,
    pub refresh_token: String,
    pub user: UserRow,
}

const BAD_CREDENTIALS: &str = "invalid email or password";
const BAD_REFRESH: &str = "invalid or expired refresh token";

/// A hash to verify against when the email is unknown, so both cases cost the same.
async fn dummy_hash() -> AppResult<&'static String> {
    static DUMMY: OnceCell<String> = OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| password::hash("adminql-dummy-password".into()))
        .await
}

fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_refresh_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn auth_entry(
    action: &'static str,
    user_id: Option<i64>,
    changes: serde_json::Value,
) -> Entry<'static> {
    Entry {
        action,
        target_type: user_id.map(|_| "user"),
        target_id: user_id,
        changes,
    }
}

/// Audits what `user_id` did to their own session (inside the caller's transaction).
async fn record_own(
    conn: &mut DbConn,
    request: &RequestContext,
    user_id: i64,
    action: &'static str,
) -> diesel::QueryResult<()> {
    let entry = auth_entry(action, Some(user_id), json!({}));
    audit::record(conn, request, Some(user_id), entry).await
}

/// Issues an access token and a new refresh token in `family` (inside the caller's transaction).
async fn open_session(
    auth: &AuthState,
    conn: &mut DbConn,
    user: UserRow,
    family: &str,
) -> AppResult<Session> {
    let refresh_token = new_refresh_token();
    let at = now();
    let ttl = chrono::Duration::from_std(auth.refresh_ttl).map_err(AppError::internal)?;
    repo::insert_refresh(
        conn,
        &repo::NewRefresh {
            user_id: user.id,
            token_hash: &sha256_hex(&refresh_token),
            family_id: family,
            expires_at: at + ttl,
            created_at: at,
        },
    )
    .await?;
    let (token, expires_at) = auth
        .keys
        .issue(user.id, user.token_version)
        .map_err(AppError::internal)?;
    Ok(Session {
        token,
        expires_at,
        refresh_token,
        user,
    })
}

/// Opens a session and audits `action` as the user's own (inside the caller's transaction).
async fn open_audited(
    auth: &AuthState,
    conn: &mut DbConn,
    request: &RequestContext,
    user: UserRow,
    family: &str,
    action: &'static str,
) -> AppResult<Session> {
    let id = user.id;
    let session = open_session(auth, conn, user, family).await?;
    record_own(conn, request, id, action).await?;
    Ok(session)
}

/// Signs in. No connection is held while the password is checked (argon2 takes tens of
/// milliseconds), so concurrent sign-ins do not exhaust the pool.
pub async fn login(
    auth: &AuthState,
    db: &Database,
    request: &RequestContext,
    email: &str,
    password: String,
) -> AppResult<Session> {
    let email = email.trim().to_lowercase();
    auth.limits
        .check(request.client_ip.as_deref().unwrap_or("unknown"), &email)?;
    let found = user_repo::credentials_by_email(&mut db.write().await?.0, &email).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, dummy_hash().await?.clone()),
    };
    let matches = password::verify(password, hash).await?;
    let user = match user {
        Some(u) if matches && u.active => u,
        other => {
            let reason = match &other {
                None => "unknown email",
                Some(u) if !u.active => "inactive user",
                Some(_) => "wrong password",
            };
            let id = other.map(|u| u.id);
            audit::record_standalone(
                db,
                request,
                id,
                auth_entry(
                    "auth.login_failed",
                    id,
                    json!({ "email": email, "reason": reason }),
                ),
            )
            .await;
            return Err(AppError::Unauthenticated(BAD_CREDENTIALS.into()));
        }
    };
    let (mut conn, _) = db.write().await?;
    conn.transaction::<_, AppError, _>(|conn| {
        async move {
            let at = now();
            user_repo::update(
                conn,
                user.id,
                &UserChanges {
                    last_login_at: Some(at),
                    ..Default::default()
                },
            )
            .await?;
            let user = UserRow {
                last_login_at: Some(at),
                ..user
            };
            let family = uuid::Uuid::new_v4().to_string();
            open_audited(auth, conn, request, user, &family, "auth.login").await
        }
        .scope_boxed()
    })
    .await
}

pub async fn refresh(
    auth: &AuthState,
    db: &Database,
    conn: &mut DbConn,
    request: &RequestContext,
    token: &str,
) -> AppResult<Session> {
    let unauthenticated = || AppError::Unauthenticated(BAD_REFRESH.into());
    let row = repo::find_refresh(conn, &sha256_hex(token.trim()))
        .await?
        .ok_or_else(unauthenticated)?;
    if row.revoked_at.is_some() {
        return Err(unauthenticated());
    }
    if row.used_at.is_some() {
        return Err(reuse_detected(db, conn, request, &row).await);
    }
    if row.expires_at < now() {
        return Err(unauthenticated());
    }
    let user = user_repo::find(conn, row.user_id)
        .await?
        .filter(|u| u.active)
        .ok_or_else(unauthenticated)?;
    let outcome = conn
        .transaction::<_, AppError, _>(|conn| {
            let row = row.clone();
            async move {
                if repo::spend_refresh(conn, row.id, now()).await? == 0 {
                    return Ok(None);
                }
                let family = &row.family_id;
                let session =
                    open_audited(auth, conn, request, user, family, "auth.refresh").await?;
                Ok(Some(session))
            }
            .scope_boxed()
        })
        .await?;
    match outcome {
        Some(session) => Ok(session),
        // Spent between our read and our update: a concurrent use of the same token.
        None => Err(reuse_detected(db, conn, request, &row).await),
    }
}

/// Revokes the chain a reused token belongs to, audits it, and returns the error to send.
async fn reuse_detected(
    db: &Database,
    conn: &mut DbConn,
    request: &RequestContext,
    row: &repo::RefreshRow,
) -> AppError {
    match repo::revoke_family(conn, &row.family_id, now()).await {
        Ok(n) => tracing::warn!(
            user.id = row.user_id,
            revoked = n,
            "refresh token reused; revoked its chain"
        ),
        Err(e) => {
            tracing::error!(user.id = row.user_id, error = %e, "refresh token reused; revoking its chain failed")
        }
    }
    audit::record_standalone(
        db,
        request,
        Some(row.user_id),
        auth_entry(
            "auth.refresh_reuse",
            Some(row.user_id),
            json!({ "family": row.family_id }),
        ),
    )
    .await;
    AppError::Unauthenticated(BAD_REFRESH.into())
}

/// Revokes the refresh chain `token` belongs to. The token is itself the credential (whoever
/// holds it could spend it), so no access token is needed: a session whose access token
/// expired can still end. A signed-in `caller` only revokes a chain of their own. True when a
/// chain was revoked.
pub async fn logout(
    conn: &mut DbConn,
    request: &RequestContext,
    caller: Option<i64>,
    token: &str,
) -> AppResult<bool> {
    let Some(row) = repo::find_refresh(conn, &sha256_hex(token.trim())).await? else {
        return Ok(false);
    };
    // Someone else's chain, or one already ended: nothing to revoke and nothing to audit.
    if caller.is_some_and(|caller| caller != row.user_id) || row.revoked_at.is_some() {
        return Ok(false);
    }
    let user_id = row.user_id;
    conn.transaction::<_, AppError, _>(|conn| {
        async move {
            if repo::revoke_family(conn, &row.family_id, now()).await? == 0 {
                return Ok(false);
            }
            record_own(conn, request, user_id, "auth.logout").await?;
            Ok(true)
        }
        .scope_boxed()
    })
    .await
}

/// Changes the signed-in user's password, revokes all their tokens and opens a new session.
pub async fn change_password(
    auth: &AuthState,
    db: &Database,
    request: &RequestContext,
    user_id: i64,
    current: String,
    new: String,
    min_length: usize,
) -> AppResult<Session> {
    let (user, hash) = user_repo::credentials(&mut db.write().await?.0, user_id)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("your account no longer exists".into()))?;
    if !password::verify(current, hash).await? {
        return Err(AppError::bad_input(
            "currentPassword",
            "the current password is wrong",
        ));
    }
    password::check_policy("newPassword", &new, min_length)?;
    let hash = password::hash(new).await?;
    let (mut conn, _) = db.write().await?;
    conn.transaction::<_, AppError, _>(|conn| {
        async move {
            let token_version = user.token_version + 1;
            user_repo::update(
                conn,
                user_id,
                &UserChanges {
                    password_hash: Some(&hash),
                    token_version: Some(token_version),
                    updated_at: Some(now()),
                    ..Default::default()
                },
            )
            .await?;
            repo::revoke_user_refresh_tokens(conn, user_id).await?;
            audit::record(
                conn,
                request,
                Some(user_id),
                auth_entry(
                    "user.password_change",
                    Some(user_id),
                    json!({ "after": { "password": "changed" } }),
                ),
            )
            .await?;
            let user = UserRow {
                token_version,
                ..user
            };
            open_session(auth, conn, user, &uuid::Uuid::new_v4().to_string()).await
        }
        .scope_boxed()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = new_refresh_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, new_refresh_token());
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
