//! Per-request data the HTTP layer puts into every GraphQL request, and the one way resolvers
//! get a database connection.

use async_graphql::Context;

use crate::db::{Database, DbConn, Target};
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
}

/// A connection for this request's route.
pub async fn conn(ctx: &Context<'_>) -> AppResult<DbConn> {
    let db = ctx.data_unchecked::<Database>();
    let route = ctx.data_unchecked::<RequestContext>().route;
    Ok(route_conn(db, route).await?.0)
}

/// A connection for `route`, with the target it came from.
pub async fn route_conn(
    db: &Database,
    route: Route,
) -> Result<(DbConn, Target), crate::db::DbError> {
    match route {
        Route::Read => db.read().await,
        Route::Write => db.write().await,
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
