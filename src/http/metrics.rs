//! Prometheus metrics: the process-wide recorder, `/metrics`, and per-request HTTP figures.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::State;
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

/// Counts and logs a finished request once (called by [`super::edge`] inside the request's
/// span). `adminql_http_server_errors_total{route}` counts the requests the server failed
/// (status 500 and up, or marked [`ServerFailure`]): the numerator of the availability SLI,
/// over `adminql_http_requests_total`.
pub fn record(route: &str, method: &'static str, response: &Response, started: Instant) {
    let status = response.status().as_u16().to_string();
    let elapsed = started.elapsed().as_secs_f64();
    let latency_ms = elapsed * 1000.0;
    let failed = response.status().is_server_error()
        || response.extensions().get::<ServerFailure>().is_some();
    // One line per request, inside the request's span (request id, operation); probes and
    // scrapes only at debug level, so they do not drown the log; a failed request at warn,
    // so that it shows at the quietest useful level.
    if failed {
        tracing::warn!(status = %status, latency_ms, "request finished");
    } else if matches!(route, "/health" | "/ready" | "/metrics") {
        tracing::debug!(status = %status, latency_ms, "request finished");
    } else {
        tracing::info!(status = %status, latency_ms, "request finished");
    }
    if failed {
        metrics::counter!("adminql_http_server_errors_total", "route" => route.to_owned())
            .increment(1);
    }
    let labels = [
        ("route", route.to_owned()),
        ("method", method.to_owned()),
        ("status", status),
    ];
    metrics::counter!("adminql_http_requests_total", &labels).increment(1);
    metrics::histogram!("adminql_http_request_duration_seconds", &labels).record(elapsed);
}
