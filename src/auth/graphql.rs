//! `login`, `refreshToken`, `logout`, `changePassword`.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::principal::{Auth, SignedIn, principal};
use super::session::{self, AuthState, Session};
use crate::db::Database;
use crate::graphql::Limits;
use crate::graphql::context::{conn, request};
use crate::user::graphql::User;

/// A signed-in session: a short-lived access token (send it as `Authorization: Bearer`) and
/// a refresh token to get the next one.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// JWT access token.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// Single-use: `refreshToken` spends it and returns a new one.
    pub refresh_token: String,
    pub user: User,
}

impl From<Session> for AuthPayload {
    fn from(s: Session) -> Self {
        AuthPayload {
            token: s.token,
            expires_at: DateTime::from_timestamp(s.expires_at, 0).unwrap_or_default(),
            refresh_token: s.refresh_token,
            user: s.user.into(),
        }
    }
}

/// Passwords are `secret` arguments: async-graphql prints `***` for them wherever it writes a
/// document out with its variables (its logging and tracing extensions).
#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Signs in. Unknown emails, wrong passwords and disabled accounts get the same answer.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        #[graphql(secret)] password: String,
    ) -> Result<AuthPayload> {
        let (auth, db) = services(ctx);
        // Sign-in takes its own connections (and hashes meanwhile): a signed-in caller's kept
        // connection goes back to the pool first.
        drop(crate::graphql::context::kept_primary(ctx));
        Ok(session::login(auth, db, request(ctx), &email, password)
            .await?
            .into())
    }

    /// Trades a refresh token for a new session; the old refresh token is spent.
    async fn refresh_token(&self, ctx: &Context<'_>, token: String) -> Result<AuthPayload> {
        let (auth, db) = services(ctx);
        let mut conn = conn(ctx).await?;
        Ok(session::refresh(auth, db, &mut conn, request(ctx), &token)
            .await?
            .into())
    }

    /// Revokes the refresh chain of `refreshToken`, which is credential enough: a session whose
    /// access token expired can still sign out. True when a chain was revoked (for a signed-in
    /// caller, one of their own).
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        let caller = ctx.data_opt::<Auth>().and_then(Auth::user_id);
        let mut conn = conn(ctx).await?;
        Ok(session::logout(&mut conn, request(ctx), caller, &refresh_token).await?)
    }

    /// Changes your password. Every token issued before stops working; use the returned session.
    #[graphql(guard = "SignedIn")]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(secret)] current_password: String,
        #[graphql(secret)] new_password: String,
    ) -> Result<AuthPayload> {
        let (auth, db) = services(ctx);
        let user_id = principal(ctx)?.user_id;
        let min = ctx.data_unchecked::<Limits>().password_min_length;
        // Passwords are hashed on the way: the auth check's connection goes back to the pool.
        drop(crate::graphql::context::kept_primary(ctx));
        Ok(session::change_password(
            auth,
            db,
            request(ctx),
            user_id,
            current_password,
            new_password,
            min,
        )
        .await?
        .into())
    }
}

/// What every auth mutation works with: the signing state and the database.
fn services<'c>(ctx: &Context<'c>) -> (&'c AuthState, &'c Database) {
    (
        ctx.data_unchecked::<Arc<AuthState>>(),
        ctx.data_unchecked::<Database>(),
    )
}
