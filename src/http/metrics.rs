//! Prometheus metrics: the process-wide recorder, `/metrics`, and per-request HTTP figures.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// The recorder is global to the process (tests build many apps in one process).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .expect("constant buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may be installed already (only in tests); then ours just stays empty.
        let _ = metrics::set_global_recorder(recorder);
        // Histograms keep every observation until something drains them, which only a scrape
        // did: with no Prometheus scraping, memory grew with traffic (~10 MB over a
        // benchmark run).
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the metrics upkeep thread");
        }
        handle
    })
}

pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    state.db.publish_pool_metrics();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle().render(),
    )
}

/// Marks a response the server failed although its status may be below 500: a GraphQL
/// response carrying a server-side error code (see [`crate::error::is_server_error_code`]).
#[derive(Clone, Copy, Debug)]
pub struct ServerFailure;

/// Counts and logs every request once. `adminql_http_server_errors_total{route}` counts the
/// requests the server failed (status 500 and up, or marked [`ServerFailure`]): the
/// numerator of the availability SLI, over `adminql_http_requests_total`.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = super::labels::method(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    // One line per request, inside the request's span (request id, operation); probes and
    // scrapes only at debug level, so they do not drown the log.
    if matches!(route.as_str(), "/health" | "/ready" | "/metrics") {
        tracing::debug!(status = %status, latency_ms, "request finished");
    } else {
        tracing::info!(status = %status, latency_ms, "request finished");
    }
    if response.status().is_server_error() || response.extensions().get::<ServerFailure>().is_some()
    {
        metrics::counter!("adminql_http_server_errors_total", "route" => route.clone())
            .increment(1);
    }
    let labels = [
        ("route", route),
        ("method", method.to_owned()),
        ("status", status),
    ];
    metrics::counter!("adminql_http_requests_total", &labels).increment(1);
    metrics::histogram!("adminql_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
