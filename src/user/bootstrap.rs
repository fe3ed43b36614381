//! The first administrator: created when the database has no user at all, so a fresh
//! installation can be signed into, and never again.

use diesel::result::Error as DieselError;
use scoped_futures::ScopedFutureExt;
use secrecy::ExposeSecret;

use super::model::NewUser;
use super::repo;
use crate::auth::password;
use crate::clock::now;
use crate::config::Config;
use crate::db::Database;
use crate::error::{AppError, AppResult};

/// What [`ensure_admin`] did.
#[derive(Debug)]
pub enum Bootstrap {
    /// Users exist already; nothing was created.
    Existing,
    /// Created from `ADMIN_EMAIL`/`ADMIN_PASSWORD`.
    Created { email: String },
    /// Created with a random password, to be shown once.
    Generated { email: String, password: String },
}

pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";

/// Creates the bootstrap admin (with the `admin` role) when no user exists.
///
/// MySQL mode needs `ADMIN_EMAIL` and `ADMIN_PASSWORD` for that; embedded mode falls back to
/// `admin@localhost` and a generated password.
pub async fn ensure_admin(db: &Database, config: &Config) -> AppResult<Bootstrap> {
    let existing = {
        let (mut conn, _) = db.write().await?;
        repo::count_all(&mut conn).await?
    };
    if existing > 0 {
        return Ok(Bootstrap::Existing);
    }
    let email = config
        .auth
        .admin_email
        .clone()
        .unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_owned())
        .trim()
        .to_lowercase();
    let (password, generated) = match &config.auth.admin_password {
        Some(p) => (p.expose_secret().to_owned(), false),
        None if config.is_embedded() => (password::generate(), true),
        None => {
            return Err(AppError::bad_input(
                "ADMIN_PASSWORD",
                "the database has no user yet: set ADMIN_EMAIL and ADMIN_PASSWORD, or run `adminql create-admin`",
            ));
        }
    };
    let created = create_admin(
        db,
        &email,
        "Administrator",
        &password,
        config.auth.password_min_length,
    )
    .await;
    match created {
        // Pods of a new deployment start together, and each saw no user: the first to commit
        // made the admin, the others find it.
        Err(AppError::Conflict { .. }) => {
            tracing::info!(%email, "another instance created the bootstrap admin first");
            return Ok(Bootstrap::Existing);
        }
        other => other?,
    }
    Ok(if generated {
        Bootstrap::Generated { email, password }
    } else {
        Bootstrap::Created { email }
    })
}

/// Creates an active user holding the `admin` role, in one transaction.
pub async fn create_admin(
    db: &Database,
    email: &str,
    name: &str,
    password: &str,
    min_length: usize,
) -> AppResult<()> {
    password::check_policy("password", password, min_length)?;
    let hash = password::hash(password.to_owned()).await?;
    let (mut conn, _) = db.write().await?;
    let now = now();
    let email = email.trim().to_lowercase();
    let result = conn
        .transaction::<_, DieselError, _>(|conn| {
            async move {
                let user = repo::insert(
                    conn,
                    &NewUser {
                        email: &email,
                        name,
                        password_hash: &hash,
                        active: true,
                        token_version: 0,
                        created_at: now,
                        updated_at: now,
                    },
                )
                .await?;
                repo::grant_role_by_name(conn, user.id, "admin").await
            }
            .scope_boxed()
        })
        .await;
    match result {
        Err(DieselError::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Err(AppError::conflict(
                "email",
                "a user with this email already exists",
            ))
        }
        other => other.map_err(AppError::from),
    }
}
