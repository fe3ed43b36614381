//! Who is calling, and the guards that check it next to every field.

use std::sync::Arc;

use async_graphql::{Context, Guard};

use crate::db::Database;
use crate::error::AppError;
use crate::request::RequestContext;

/// Permission codes of the catalogue (seeded by migration).
pub mod perm {
    pub const USER_READ: &str = "user:read";
    pub const USER_WRITE: &str = "user:write";
    pub const ROLE_READ: &str = "role:read";
    pub const ROLE_WRITE: &str = "role:write";
    pub const PERMISSION_READ: &str = "permission:read";
    pub const AUDIT_READ: &str = "audit:read";
    pub const SYSTEM_READ: &str = "system:read";
}

/// A signed-in user with the permission codes granted through their roles, as read at the
/// start of this request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub token_version: i32,
    /// Sorted, so `has` is a binary search.
    pub permissions: Vec<String>,
}

impl Principal {
    pub fn has(&self, code: &str) -> bool {
        self.permissions
            .binary_search_by(|p| p.as_str().cmp(code))
            .is_ok()
    }
}

/// The caller of a GraphQL request; always present in the request data.
#[derive(Debug, Clone)]
pub enum Auth {
    Anonymous,
    User(Arc<Principal>),
}

impl Auth {
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Auth::User(p) => Some(p),
            Auth::Anonymous => None,
        }
    }

    pub fn user_id(&self) -> Option<i64> {
        self.principal().map(|p| p.user_id)
    }
}

/// The signed-in principal, or `UNAUTHENTICATED`.
pub fn principal<'a>(ctx: &'a Context<'_>) -> Result<&'a Principal, AppError> {
    ctx.data_opt::<Auth>()
        .and_then(Auth::principal)
        .ok_or_else(|| {
            AppError::Unauthenticated("sign in first: this field needs a bearer token".into())
        })
}

/// Guard: the caller holds permission `.0`. Denials are audited.
pub struct Require(pub &'static str);

impl Guard for Require {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let principal = principal(ctx)?;
        if principal.has(self.0) {
            return Ok(());
        }
        if let (Some(db), Some(request)) =
            (ctx.data_opt::<Database>(), ctx.data_opt::<RequestContext>())
        {
            // The denial is written on a primary connection of its own: the request's kept
            // one goes back first.
            drop(crate::graphql::context::kept_primary(ctx));
            let field = ctx.field().name();
            crate::audit::record_denial(db, request, principal.user_id, field, self.0).await;
        }
        Err(AppError::Forbidden(format!("this needs the '{}' permission", self.0)).into())
    }
}

/// Guard: any signed-in user.
pub struct SignedIn;

impl Guard for SignedIn {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        principal(ctx).map(|_| ()).map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_permission() {
        let p = Principal {
            user_id: 1,
            token_version: 0,
            permissions: vec!["role:read".into(), "user:read".into()],
        };
        assert!(p.has("user:read"));
        assert!(!p.has("user:write"));
    }
}
