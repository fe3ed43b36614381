//! Per-request data the HTTP layer puts into every GraphQL request, and the one way resolvers
//! get a database connection.

use std::sync::Arc;

use async_graphql::Context;
use diesel::QueryResult;
use scoped_futures::ScopedBoxFuture;

use super::count_cache::CountCache;
use crate::db::{Database, DbConn, DbError, Held, Token};
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

/// A primary connection, for mutations (which own their transaction): the one the auth
/// check used, when the request kept it.
pub async fn conn(ctx: &Context<'_>) -> AppResult<DbConn> {
    if let Some(conn) = kept_primary(ctx) {
        return Ok(conn);
    }
    Ok(ctx.data_unchecked::<Database>().write().await?.0)
}

/// The primary connection the request kept from its auth check, if any: for a service that
/// takes its own connection only after slow work (hashing a password), so that no idle
/// connection is held meanwhile.
pub fn kept_primary(ctx: &Context<'_>) -> Option<DbConn> {
    match held(ctx).and_then(Held::take) {
        Some((conn, crate::db::Target::Primary)) => Some(conn),
        Some((conn, target)) => {
            if let Some(held) = held(ctx) {
                held.put_back(conn, target);
            }
            None
        }
        None => None,
    }
}

/// The request's kept connection (see [`Held`]); absent outside an HTTP request.
fn held<'a>(ctx: &'a Context<'_>) -> Option<&'a Held> {
    ctx.data_opt::<Arc<Held>>().map(|held| &**held)
}

/// Runs a read for this request: on a replica that honours the request's consistency token,
/// retried once elsewhere if the connection fails (see [`Database::run_read_held`]); on the
/// primary inside a mutation.
pub async fn read<'a, T, F>(ctx: &Context<'_>, f: F) -> AppResult<T>
where
    T: Send + 'a,
    F: for<'c> FnMut(&'c mut DbConn) -> ScopedBoxFuture<'a, 'c, QueryResult<T>> + Send + 'a,
{
    let db = ctx.data_unchecked::<Database>();
    let request = ctx.data_unchecked::<RequestContext>();
    Ok(read_on(
        db,
        request.route,
        request.consistency.as_ref(),
        held(ctx),
        f,
    )
    .await?)
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

/// [`read`] without a GraphQL context (loaders, the auth check), on the request's kept
/// connection when it has one free.
pub async fn read_on<'a, T, F>(
    db: &Database,
    route: Route,
    token: Option<&Token>,
    held: Option<&Held>,
    mut f: F,
) -> Result<T, DbError>
where
    T: Send + 'a,
    F: for<'c> FnMut(&'c mut DbConn) -> ScopedBoxFuture<'a, 'c, QueryResult<T>> + Send + 'a,
{
    match route {
        Route::Read => db.run_read_held(held, token, &mut f).await,
        Route::Write => db.run_primary_read(held, &mut f).await,
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
