//! The one middleware every request passes: its id, its trace span, the panic catcher and
//! the timeout (`failsafe.rs`), and its log line and metrics (`metrics.rs`).
//!
//! One `from_fn` instead of a layer for each: every layer of axum's `from_fn` clones the
//! routes' boxed service and boxes a future per request, and tower-http's request-id and trace
//! layers add their own wrappers. Together they cost more CPU per request than the work they
//! did (bench/README.md, "Profile").

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::transport::{self, Media};
use super::{REQUEST_ID, failsafe, labels, metrics, request_id};

/// Gives the request an id (the client's `x-request-id`, or a new UUID), runs it in a span
/// under the timeout with panics caught, logs and counts it, and returns the id in the
/// response's `x-request-id`.
pub async fn handle(State(limit): State<Duration>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = match req.headers().get(REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let id = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .expect("a UUID is a valid header value");
            req.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
    let request_id = request_id(req.headers());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = labels::method(req.method());
    // Refusals from here on (timeout, panic) answer in the media type the client accepts.
    let media = transport::negotiate(req.headers()).unwrap_or(Media::Json);
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %request_id,
        operation = tracing::field::Empty,
    );
    let mut response = async {
        let response = failsafe::guarded(limit, media, &request_id, next.run(req)).await;
        metrics::record(&route, method, &response, started);
        response
    }
    .instrument(span)
    .await;
    response.headers_mut().insert(REQUEST_ID, id);
    response
}
