//! The application error and its mapping to GraphQL `extensions.code`.
//!
//! Layering (as in crates.io's `util/errors.rs`): repository functions return
//! `diesel::QueryResult`; resolvers and services return [`AppResult`]; the GraphQL edge turns
//! an [`AppError`] into an `async_graphql::Error` carrying a stable code. Internal errors keep
//! their cause for the log and show clients only a generic message (the request id is added
//! to every error by the HTTP layer).

use async_graphql::ErrorExtensions;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::db::DbError;

pub type AppResult<T> = Result<T, AppError>;

/// Deliberately not `Display`: async-graphql converts any `Display` type into an error without
/// a code, and every error we send must carry one. Convert with `?` (the `From` impl below).
#[derive(Debug)]
pub enum AppError {
    Unauthenticated(String),
    Forbidden(String),
    BadInput {
        field: String,
        message: String,
    },
    NotFound(String),
    Conflict {
        field: String,
        message: String,
    },
    ReadOnly,
    RateLimited {
        retry_after_secs: u64,
    },
    /// Overload: no database connection could be had in time (every connection busy). The
    /// server is healthy; the client should retry after `retry_after_secs`.
    Unavailable {
        retry_after_secs: u64,
    },
    /// Over a query limit (depth, fields, complexity); refused before anything runs.
    TooComplex(String),
    Internal(anyhow::Error),
}

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(error.into())
    }

    /// What the client reads; never internal detail.
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated(m)
            | AppError::Forbidden(m)
            | AppError::NotFound(m)
            | AppError::TooComplex(m) => m.clone(),
            AppError::BadInput { message, .. } | AppError::Conflict { message, .. } => {
                message.clone()
            }
            AppError::ReadOnly => {
                "the service is in read-only mode: the primary database is unavailable".into()
            }
            AppError::RateLimited { retry_after_secs } => {
                format!("too many attempts; retry in {retry_after_secs} s")
            }
            AppError::Unavailable { retry_after_secs } => {
                format!("the service is busy; retry in {retry_after_secs} s")
            }
            AppError::Internal(_) => "internal server error".into(),
        }
    }

    /// The message with internal causes, for logs and the command line (never for clients).
    pub fn detail(&self) -> String {
        match self {
            AppError::Internal(cause) => format!("{cause:#}"),
            other => other.message(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::BadInput { .. } => "BAD_USER_INPUT",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Conflict { .. } => "CONFLICT",
            AppError::ReadOnly => "READ_ONLY_MODE",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::Unavailable { .. } => "SERVICE_UNAVAILABLE",
            AppError::TooComplex(_) => "QUERY_TOO_COMPLEX",
            AppError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }
}

/// Codes that mean the server failed the request (not the client): what the availability SLI
/// counts as a failed request, whatever the HTTP status of the response.
pub const SERVER_ERROR_CODES: [&str; 2] = ["INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"];

pub fn is_server_error_code(code: &str) -> bool {
    SERVER_ERROR_CODES.contains(&code)
}

impl From<DieselError> for AppError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => AppError::NotFound("not found".into()),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                AppError::conflict("id", "a record with these values already exists")
            }
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<DbError> for AppError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::PrimaryUnavailable(reason) => {
                tracing::warn!(%reason, "write refused: primary unavailable");
                AppError::ReadOnly
            }
            DbError::Busy(pool) => {
                tracing::warn!(%pool, "no database connection in time: every one is busy");
                metrics::counter!("adminql_db_busy_total", "pool" => pool).increment(1);
                AppError::Unavailable {
                    retry_after_secs: 1,
                }
            }
            DbError::Query(e) => e.into(),
            other => AppError::Internal(other.into()),
        }
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        if let AppError::Internal(cause) = self {
            // Logged once, here, with its cause; the client sees only the generic message.
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        async_graphql::Error::new(self.message()).extend_with(|_, ext| {
            ext.set("code", self.code());
            match self {
                AppError::BadInput { field, .. } | AppError::Conflict { field, .. } => {
                    ext.set("field", field.as_str());
                }
                AppError::RateLimited { retry_after_secs }
                | AppError::Unavailable { retry_after_secs } => {
                    ext.set("retryAfter", *retry_after_secs);
                    let status = if matches!(self, AppError::RateLimited { .. }) {
                        429
                    } else {
                        503
                    };
                    ext.set(
                        "http",
                        async_graphql::Value::from_json(serde_json::json!({ "status": status }))
                            .unwrap_or_default(),
                    );
                }
                _ => {}
            }
        })
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> Self {
        error.extend()
    }
}

/// Maps a unique-key violation to `CONFLICT` on `field`; other errors as usual.
pub fn unique_as(error: DieselError, field: &str, message: &str) -> AppError {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            AppError::conflict(field, message)
        }
        other => other.into(),
    }
}

/// `value` trimmed, or `BAD_USER_INPUT` on `field` unless that leaves 1 to `max` characters.
pub fn required_text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let text = value.trim();
    if text.is_empty() || text.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("{field} must have 1 to {max} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// `BAD_USER_INPUT` on `field` naming the first of `ids` missing from `found`, the ids of them
/// that exist (`no role has id 7`).
pub fn all_found(field: &str, what: &str, ids: &[i64], found: &[i64]) -> AppResult<()> {
    match ids.iter().find(|id| !found.contains(id)) {
        Some(missing) => Err(AppError::bad_input(
            field,
            format!("no {what} has id {missing}"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(error: AppError) -> (String, async_graphql::Error) {
        let gql = error.extend();
        let code = gql
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map(|v| v.to_string())
            .unwrap_or_default();
        (code, gql)
    }

    #[test]
    fn each_variant_has_its_code() {
        let cases = [
            (AppError::Unauthenticated("x".into()), "UNAUTHENTICATED"),
            (AppError::Forbidden("x".into()), "FORBIDDEN"),
            (AppError::bad_input("email", "x"), "BAD_USER_INPUT"),
            (AppError::NotFound("x".into()), "NOT_FOUND"),
            (AppError::conflict("email", "x"), "CONFLICT"),
            (AppError::ReadOnly, "READ_ONLY_MODE"),
            (AppError::TooComplex("x".into()), "QUERY_TOO_COMPLEX"),
            (
                AppError::RateLimited {
                    retry_after_secs: 3,
                },
                "RATE_LIMITED",
            ),
            (
                AppError::Unavailable {
                    retry_after_secs: 1,
                },
                "SERVICE_UNAVAILABLE",
            ),
            (
                AppError::internal(anyhow::anyhow!("boom")),
                "INTERNAL_SERVER_ERROR",
            ),
        ];
        for (error, expected) in cases {
            let (code, _) = code_of(error);
            assert_eq!(code, format!("\"{expected}\""));
        }
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let (_, gql) = code_of(AppError::internal(anyhow::anyhow!(
            "SELECT * FROM users failed at src/user/repo.rs:10"
        )));
        assert_eq!(gql.message, "internal server error");
    }

    #[test]
    fn diesel_errors_map() {
        assert_eq!(AppError::from(DieselError::NotFound).code(), "NOT_FOUND");
        assert_eq!(
            AppError::from(DieselError::RollbackTransaction).code(),
            "INTERNAL_SERVER_ERROR"
        );
        assert_eq!(
            AppError::from(DbError::PrimaryUnavailable("x".into())).code(),
            "READ_ONLY_MODE"
        );
        assert_eq!(
            AppError::from(DbError::Busy("replica-0".into())).code(),
            "SERVICE_UNAVAILABLE"
        );
    }

    #[test]
    fn server_side_codes_are_told_apart() {
        assert!(is_server_error_code("INTERNAL_SERVER_ERROR"));
        assert!(is_server_error_code("SERVICE_UNAVAILABLE"));
        for client in [
            "BAD_USER_INPUT",
            "FORBIDDEN",
            "RATE_LIMITED",
            "READ_ONLY_MODE",
        ] {
            assert!(!is_server_error_code(client), "{client}");
        }
    }

    #[test]
    fn field_is_named() {
        let (_, gql) = code_of(AppError::bad_input("email", "not an email"));
        let field = gql
            .extensions
            .as_ref()
            .and_then(|e| e.get("field"))
            .map(|v| v.to_string());
        assert_eq!(field.as_deref(), Some("\"email\""));
    }
}
