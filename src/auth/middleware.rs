//! The edge of authentication: the GraphQL extractor verifies any bearer token once per
//! request ([`credentials`]), and the GraphQL handler turns verified claims into a
//! [`Principal`] that is current (the user is still active and the token's `token_version`
//! is the user's).
//!
//! No header means anonymous; a header that does not verify is answered 401 with an
//! `UNAUTHENTICATED` GraphQL error body, never treated as anonymous.

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::jwt::Claims;
use super::principal::Principal;
use super::session::AuthState;
use crate::db::Database;
use crate::error::{AppError, AppResult};
use scoped_futures::ScopedFutureExt;

use super::repo;
use crate::db::Route;
use crate::db::{Held, Token};

/// What the request's `Authorization` header carried, after verification.
#[derive(Clone, Debug)]
pub enum Credentials {
    None,
    Token(Arc<Claims>),
}

/// Verifies the request's bearer token, if any (the GraphQL extractor calls this before it
/// reads the body): no header is anonymous, one that does not verify is answered 401.
pub fn credentials(
    auth: &AuthState,
    headers: &HeaderMap,
    request_id: &str,
) -> Result<Credentials, Box<Response>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Credentials::None);
    };
    let Some(token) = value.to_str().ok().and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    }) else {
        outcome("malformed");
        return Err(Box::new(unauthenticated(
            "the Authorization header must be 'Bearer <token>'",
            request_id,
        )));
    };
    match auth.keys.verify(token.trim()) {
        Ok(claims) => Ok(Credentials::Token(Arc::new(claims))),
        Err(reason) => {
            tracing::info!(%reason, "refused a bearer token");
            outcome("invalid");
            Err(Box::new(unauthenticated(
                "invalid or expired token",
                request_id,
            )))
        }
    }
}

fn outcome(result: &'static str) {
    metrics::counter!("adminql_auth_tokens_total", "result" => result).increment(1);
}

/// 401 with a GraphQL-shaped error body, so GraphQL clients and plain HTTP clients both
/// understand it.
pub fn unauthenticated(message: &str, request_id: &str) -> Response {
    let extensions = json!({ "code": "UNAUTHENTICATED", "requestId": request_id });
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        Json(json!({ "errors": [{ "message": message, "extensions": extensions }] })),
    )
        .into_response()
}

/// Loads the principal for verified claims the way the request reads (replica, honouring
/// its consistency token; primary for a mutation): the user's state and permission codes, in
/// one statement.
pub async fn principal(
    db: &Database,
    route: Route,
    token: Option<&Token>,
    held: &Held,
    claims: &Claims,
) -> AppResult<Principal> {
    let revoked = || AppError::Unauthenticated("this token has been revoked; sign in again".into());
    let user_id = claims.user_id().ok_or_else(revoked)?;
    let found = db
        .read_on(route, token, Some(held), |c| {
            repo::access(c, user_id).scope_boxed()
        })
        .await?;
    let Some((active, token_version, permissions)) = found else {
        outcome("revoked");
        return Err(revoked());
    };
    if !active || token_version != claims.token_version {
        outcome("revoked");
        return Err(revoked());
    }
    outcome("ok");
    Ok(Principal {
        user_id,
        token_version,
        permissions,
    })
}
