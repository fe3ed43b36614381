//! What a request is, in plain types every layer below the HTTP edge may take: its id, where
//! it comes from, which way it reads, the client's last write, and who acts.
//!
//! The edge (`http/`) fills a [`RequestContext`] once per request; the GraphQL layer hands it
//! to resolvers; services take an [`Actor`] for their audit rows. Nothing here knows HTTP
//! routing or GraphQL.

use axum::http::{HeaderMap, HeaderName};

use crate::db::{Route, Token};

/// The header carrying the request id (set by the edge when the client sends none).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id from its headers (empty outside a request that went through the edge).
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// What the edge knows about the request.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub route: Route,
    pub client_ip: Option<String>,
    /// The client's last write (`X-Consistency-Token` or the `adminql_ct` cookie).
    pub consistency: Option<Token>,
}

/// Who performs a mutation and from where; what services need for the audit row.
pub struct Actor<'a> {
    pub user_id: i64,
    pub request: &'a RequestContext,
    pub password_min_length: usize,
}
