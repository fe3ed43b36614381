//! The GraphQL-over-HTTP request as an axum extractor: everything the transport checks
//! before a document is looked at (`Accept`, method, `Content-Type`, body size, JSON shape),
//! with a GraphQL-shaped refusal for each (see [`super::transport`]).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;

use super::transport::{self, Media};
use crate::AppState;
use crate::auth::middleware::{Credentials, credentials};
use crate::request::request_id;

/// A GraphQL request that passed the transport's checks.
pub struct GraphqlRequest {
    pub request: async_graphql::Request,
    /// The response type the client accepts.
    pub media: Media,
    /// Came as `GET` (queries only).
    pub is_get: bool,
    pub request_id: String,
    pub headers: HeaderMap,
    /// The TCP peer (absent only when the server runs without connection info, in tests).
    pub peer: Option<SocketAddr>,
    /// What the bearer token carried, verified before the body was read.
    pub credentials: Credentials,
}

impl FromRequest<AppState> for GraphqlRequest {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let request_id = request_id(req.headers());
        let credentials = credentials(&state.auth, req.headers(), &request_id).map_err(|r| *r)?;
        let Some(media) = transport::negotiate(req.headers()) else {
            return Err(not_acceptable(&request_id));
        };
        let (parts, body) = req.into_parts();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        // axum's `get` routes HEAD here too: it reads the query string like GET does.
        let is_get = matches!(parts.method, Method::GET | Method::HEAD);
        let headers = parts.headers.clone();
        let request = if is_get {
            transport::parse_get(parts.uri.query(), media, &request_id).map_err(|r| *r)?
        } else {
            let body = Bytes::from_request(Request::from_parts(parts, body), state)
                .await
                .map_err(|rejection| {
                    let limit = state.config.http.body_limit;
                    transport::body_refused(&rejection, limit, media, &request_id)
                })?;
            transport::parse_post(&headers, &body, media, &request_id).map_err(|r| *r)?
        };
        Ok(GraphqlRequest {
            request,
            media,
            is_get,
            request_id,
            headers,
            peer,
            credentials,
        })
    }
}

/// 406, as a GraphQL error in plain JSON (what the client accepts is unknown).
fn not_acceptable(request_id: &str) -> Response {
    transport::refuse_field(
        StatusCode::NOT_ACCEPTABLE,
        Media::Json,
        "BAD_USER_INPUT",
        "Accept application/graphql-response+json or application/json",
        Some("Accept"),
        request_id,
    )
}
