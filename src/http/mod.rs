//! The HTTP surface: routes, middleware and the server loop with graceful shutdown.

mod admin;
mod client_ip;
mod consistency;
mod edge;
mod extract;
mod failsafe;
mod graphiql;
mod graphql;
mod health;
pub mod labels;
pub mod metrics;
mod operation;
mod status;
#[cfg(test)]
mod tests;
mod transport;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderName;
use axum::routing::get;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::AppState;
use crate::config::HttpConfig;

pub use crate::request::{REQUEST_ID, request_id};

pub fn router(state: AppState) -> Router {
    // Install the recorder before the first request is counted.
    metrics::handle();
    // The SLI's numerator exists from the start, so its rate is 0 rather than absent.
    ::metrics::counter!("adminql_http_server_errors_total", "route" => "/graphql").increment(0);
    // Only the API reads bearer tokens (its extractor, `extract.rs`): a probe or a scrape
    // that carries a stale one still gets its answer.
    let api = get(graphql::handle).post(graphql::handle);
    let routes = Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics::render))
        .route("/graphql", api)
        .merge(graphiql::routes())
        .merge(admin::routes());
    edge(routes, &state.config.http).with_state(state)
}

/// Wraps `routes` in every layer a request passes, outermost first: CORS, then one middleware
/// for the request id, trace span, metrics and the request log, panic catcher and timeout
/// (`edge.rs`), then the body limit. Generic over the state so that tests can wrap routes of
/// their own (one that panics, one that hangs).
pub(crate) fn edge<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    http: &HttpConfig,
) -> Router<S> {
    failsafe::install_panic_hook();
    let middleware = ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            http.request_timeout,
            edge::handle,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(http.body_limit));
    let router = routes.layer(middleware);
    match cors(&http.cors_allowed_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// CORS for the configured browser origins only; with none configured, no CORS headers at all
/// (same-origin use, GraphiQL included, needs none).
fn cors(origins: &[String]) -> Option<CorsLayer> {
    use axum::http::{HeaderValue, Method, header};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let consistency = HeaderName::from_static(consistency::CONSISTENCY_HEADER);
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                consistency.clone(),
            ])
            .expose_headers([consistency, REQUEST_ID])
            .max_age(Duration::from_secs(600)),
    )
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish for up to `grace` before returning.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let signalled = Arc::new(tokio::sync::Notify::new());
    let notify = signalled.clone();
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!(grace = %humantime::format_duration(grace), "shutting down: no new connections, finishing in-flight requests");
        notify.notify_one();
    });
    tokio::select! {
        result = server => result,
        () = async { signalled.notified().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("grace period over; exiting with requests still in flight");
            Ok(())
        }
    }
}

/// Completes on SIGTERM or SIGINT. The handlers are installed when this is called, not when
/// the future is first polled, so a signal sent right after start-up is not lost.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            (Err(error), _) | (_, Err(error)) => {
                tracing::error!(%error, "cannot listen for SIGTERM/SIGINT; stop with SIGKILL");
                std::future::pending::<()>().await;
            }
        }
    }
}
