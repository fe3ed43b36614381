//! Per-request data the HTTP layer puts into every GraphQL request, and the one way resolvers
//! get a database connection.

use std::sync::Arc;

use async_graphql::Context;
use diesel::QueryResult;
use scoped_futures::ScopedBoxFuture;

use super::count_cache::CountCache;
use crate::db::{Database, DbConn, DbError, Token};
use crate::error::AppResult;

/// Which pool a request uses; decided once per request from its operation type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A `query`: replicas, falling back to the primary.
    Read,
    /// A `mutation`: the primary for everything it resolves, payload included.
    Write,
}

/// What the HTTP layer knows about the request.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub route: Route,
    pub client_ip: Option<String>,
    /// The client's last write (`X-Consistency-Token` or the `adminql_ct` cookie).
    pub consistency: Option<Token>,
}

/// A primary connection, for mutations (which own their transaction).
pub async fn conn(ctx: &Context<'_>) -> AppResult<DbConn> {
    Ok(ctx.data_unchecked::<Database>().write().await?.0)
}

/// Runs a read for this request: on a replica that honours the request's consistency token,
/// retried once elsewhere if the connection fails (see [`Database::run_read`]); on the
/// primary inside a mutation.
pub async fn read<'a, T, F>(ctx: &Context<'_>, f: F) -> AppResult<T>
where
    T: Send + 'a,
    F: for<'c> FnMut(&'c mut DbConn) -> ScopedBoxFuture<'a, 'c, QueryResult<T>> + Send + 'a,
{
    let db = ctx.data_unchecked::<Database>();
    let request = ctx.data_unchecked::<RequestContext>();
    Ok(read_on(db, request.route, request.consistency.as_ref(), f).await?)
}

/// A list total (`_allXsMeta`) through [`read`], kept in the [`CountCache`] when the request
/// may see a slightly older total: a query whose client has not written recently.
pub async fn count<'a, F>(
    ctx: &Context<'_>,
    resource: &'static str,
    filter: &impl std::fmt::Debug,
    run: F,
) -> AppResult<i64>
where
    F: for<'c> FnMut(&'c mut DbConn) -> ScopedBoxFuture<'a, 'c, QueryResult<i64>> + Send + 'a,
{
    let request = request(ctx);
    let cache = ctx.data_unchecked::<Arc<CountCache>>();
    let pending = match request.route {
        Route::Read if request.consistency.is_none() => match cache.lookup(resource, filter) {
            Ok(total) => return Ok(total),
            Err(pending) => pending,
        },
        _ => None,
    };
    let total = read(ctx, run).await?;
    if let Some(pending) = pending {
        cache.store(pending, total);
    }
    Ok(total)
}

/// [`read`] without a GraphQL context (loaders, the auth check).
pub async fn read_on<'a, T, F>(
    db: &Database,
    route: Route,
    token: Option<&Token>,
    mut f: F,
) -> Result<T, DbError>
where
    T: Send + 'a,
    F: for<'c> FnMut(&'c mut DbConn) -> ScopedBoxFuture<'a, 'c, QueryResult<T>> + Send + 'a,
{
    match route {
        Route::Read => db.run_read(token, &mut f).await,
        Route::Write => {
            let (mut conn, _) = db.write().await?;
            Ok(f(&mut conn).await?)
        }
    }
}

pub fn request<'a>(ctx: &'a Context<'_>) -> &'a RequestContext {
    ctx.data_unchecked::<RequestContext>()
}

/// Who performs a mutation and from where; what services need for the audit row.
pub struct Actor<'a> {
    pub user_id: i64,
    pub request: &'a RequestContext,
    pub password_min_length: usize,
}

/// The signed-in caller as an [`Actor`], or `UNAUTHENTICATED`.
pub fn actor<'a>(ctx: &'a Context<'_>) -> AppResult<Actor<'a>> {
    Ok(Actor {
        user_id: crate::auth::principal::principal(ctx)?.user_id,
        request: request(ctx),
        password_min_length: ctx.data_unchecked::<super::Limits>().password_min_length,
    })
}
