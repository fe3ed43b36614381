//! Per-request data the HTTP layer puts into every GraphQL request, and the one way resolvers
//! get a database connection.

use std::sync::Arc;

use async_graphql::Context;
use diesel::QueryResult;
use scoped_futures::ScopedBoxFuture;

use super::count_cache::CountCache;
use crate::db::{Database, DbConn, Held, Route};
use crate::error::AppResult;
use crate::request::{Actor, RequestContext};

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
    let held = held(ctx)?;
    match held.take_idle()? {
        (conn, crate::db::Target::Primary) => Some(conn),
        (conn, target) => {
            held.put_back(conn, target);
            None
        }
    }
}

/// The request's kept connection (see [`Held`]); absent outside an HTTP request.
fn held<'a>(ctx: &'a Context<'_>) -> Option<&'a Held> {
    ctx.data_opt::<Arc<Held>>().map(|held| &**held)
}

/// Runs a read for this request: on a replica that honours the request's consistency token,
/// retried once elsewhere if the connection fails; on the primary inside a mutation (see
/// [`Database::read_on`]).
pub async fn read<'a, T, F>(ctx: &Context<'_>, f: F) -> AppResult<T>
where
    T: Send + 'a,
    F: for<'c> FnMut(&'c mut DbConn) -> ScopedBoxFuture<'a, 'c, QueryResult<T>> + Send + 'a,
{
    let db = ctx.data_unchecked::<Database>();
    let request = ctx.data_unchecked::<RequestContext>();
    Ok(db
        .read_on(request.route, request.consistency.as_ref(), held(ctx), f)
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

pub fn request<'a>(ctx: &'a Context<'_>) -> &'a RequestContext {
    ctx.data_unchecked::<RequestContext>()
}

/// The signed-in caller as an [`Actor`], or `UNAUTHENTICATED`.
pub fn actor<'a>(ctx: &'a Context<'_>) -> AppResult<Actor<'a>> {
    Ok(Actor {
        user_id: crate::auth::principal::principal(ctx)?.user_id,
        request: request(ctx),
        password_min_length: ctx.data_unchecked::<super::Limits>().password_min_length,
    })
}
