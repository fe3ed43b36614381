//! `POST /graphql` and `GET /graphql` (queries only).
//!
//! The operation type picks the route before execution: a `query` reads from replicas, a
//! `mutation` runs on the primary for everything it resolves. Every error leaves with an
//! `extensions.code` and the request id.

use std::net::SocketAddr;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use std::sync::Arc;

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::REQUEST_ID;
use crate::AppState;
use crate::auth::middleware::{Credentials, principal, unauthenticated};
use crate::auth::principal::Auth;
use crate::error::AppError;
use crate::graphql::context::{RequestContext, Route};
use crate::graphql::loaders::Loaders;

pub async fn post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(credentials): Extension<Credentials>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    execute(
        state,
        peer,
        credentials,
        headers,
        request.into_inner(),
        false,
    )
    .await
}

pub async fn get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(credentials): Extension<Credentials>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    execute(
        state,
        peer,
        credentials,
        headers,
        request.into_inner(),
        true,
    )
    .await
}

async fn execute(
    state: AppState,
    peer: SocketAddr,
    credentials: Credentials,
    headers: HeaderMap,
    mut request: async_graphql::Request,
    is_get: bool,
) -> Response {
    let route = route_of(&mut request);
    if is_get && route == Route::Write {
        // GraphQL over HTTP: mutations only over POST, so a link or <img> cannot change data.
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "mutations must use POST",
        )
            .into_response();
    }
    let request_id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let context = RequestContext {
        request_id: request_id.clone(),
        route,
        client_ip: Some(client_ip(
            &headers,
            peer,
            state.config.http.trust_forwarded_for,
        )),
    };
    let auth = match credentials {
        Credentials::None => Auth::Anonymous,
        Credentials::Token(claims) => match principal(&state.db, route, &claims).await {
            Ok(principal) => Auth::User(Arc::new(principal)),
            Err(AppError::Unauthenticated(message)) => return unauthenticated(&message),
            Err(error) => {
                let error = async_graphql::ErrorExtensions::extend(&error);
                let mut response = async_graphql::Response::from_errors(vec![
                    error.into_server_error(Default::default()),
                ]);
                tag_errors(&mut response, &request_id);
                return GraphQLResponse::from(response).into_response();
            }
        },
    };
    let request = request
        .data(context)
        .data(auth)
        .data(Loaders::new(&state.db, route));
    let mut response = state.schema.execute(request).await;
    tag_errors(&mut response, &request_id);
    GraphQLResponse::from(response).into_response()
}

/// Gives every error a code (`BAD_USER_INPUT` for parse and validation errors, which come
/// without one) and the request id.
fn tag_errors(response: &mut async_graphql::Response, request_id: &str) {
    for error in &mut response.errors {
        let ext = error.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", "BAD_USER_INPUT");
        }
        ext.set("requestId", request_id);
    }
}

/// The operation's type decides the route; an unparsable document routes as a read (it will
/// fail validation without touching a database).
fn route_of(request: &mut async_graphql::Request) -> Route {
    let name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return Route::Read;
    };
    let operation = match &document.operations {
        DocumentOperations::Single(op) => Some(op),
        DocumentOperations::Multiple(ops) => match name {
            Some(name) => ops.get(name.as_str()),
            None if ops.len() == 1 => ops.values().next(),
            None => None,
        },
    };
    match operation.map(|op| op.node.ty) {
        Some(OperationType::Mutation) => Route::Write,
        _ => Route::Read,
    }
}

/// The client's address: the peer, or the left-most `X-Forwarded-For` entry behind a
/// trusted proxy.
fn client_ip(headers: &HeaderMap, peer: SocketAddr, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for
        && let Some(forwarded) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
    {
        return forwarded.to_owned();
    }
    peer.ip().to_string()
}
