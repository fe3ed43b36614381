//! Answers for requests that fail outside any handler's own error handling: a request that
//! runs past `HTTP_REQUEST_TIMEOUT` (503 `SERVICE_UNAVAILABLE`) and a handler or resolver
//! that panics (500 `INTERNAL_SERVER_ERROR`). Both are GraphQL error documents with the
//! request id, like every other refusal; a panic is logged once and the connection stays up.
//!
//! Logging a panic once: the process's panic hook would print its own unstructured line to
//! stderr beside ours. [`install_panic_hook`] wraps the hook so that, while a request future
//! is being polled here, it only notes where the panic happened; [`guarded`] then logs
//! one line with the request id, the message and that location. (Catching needs
//! `panic = "unwind"`, Rust's default, which Cargo.toml's profiles keep.)

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;

use super::transport::{self, Media};

/// How long a client should wait before retrying a request that timed out.
const TIMEOUT_RETRY_AFTER_SECS: u64 = 1;

/// Runs a request's future under `limit` with panics caught: its response, or the GraphQL
/// error document for a timeout (503) or a panic (500), in `media`, with `request_id`.
pub async fn guarded(
    limit: Duration,
    media: Media,
    request_id: &str,
    request: impl Future<Output = Response> + Send,
) -> Response {
    // The timeout inside the catcher: a panic while the timer runs is still caught.
    let caught = Catching {
        inner: Box::pin(tokio::time::timeout(limit, request)),
    };
    match caught.await {
        Ok(Ok(response)) => response,
        Ok(Err(_elapsed)) => timed_out(limit, media, request_id),
        Err(payload) => panicked(payload.as_ref(), media, request_id),
    }
}

fn timed_out(limit: Duration, media: Media, request_id: &str) -> Response {
    let limit = humantime::format_duration(limit);
    tracing::warn!(%limit, "request timed out (HTTP_REQUEST_TIMEOUT)");
    transport::refuse_retry(
        StatusCode::SERVICE_UNAVAILABLE,
        media,
        "SERVICE_UNAVAILABLE",
        &format!("the request took longer than {limit} (HTTP_REQUEST_TIMEOUT)"),
        TIMEOUT_RETRY_AFTER_SECS,
        request_id,
    )
}

fn panicked(payload: &(dyn Any + Send), media: Media, request_id: &str) -> Response {
    let location = PANIC_LOCATION.take().unwrap_or_default();
    // The request id is named here too: the line must identify the request even where the
    // request span is not recorded.
    tracing::error!(
        %request_id,
        panic = message(payload),
        %location,
        "a request handler panicked; answered 500"
    );
    transport::refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        media,
        "INTERNAL_SERVER_ERROR",
        "internal server error",
        request_id,
    )
}

fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

thread_local! {
    /// Set while [`Catching`] polls its future on this thread.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// Where the last caught panic happened, for [`guarded`]'s log line.
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Wraps the process's panic hook (once): panics that [`guarded`] will catch are noted,
/// not printed; every other panic goes to the previous hook as before.
pub fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.get() {
                let location = info.location().map(ToString::to_string);
                PANIC_LOCATION.set(location);
            } else {
                previous(info);
            }
        }));
    });
}

/// Polls a request future, turning a panic into `Err(payload)`.
struct Catching<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for Catching<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outer = CATCHING.replace(true);
        // The future is dropped right after a panic, never polled again, so whatever state
        // the panic left it in is never observed.
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.as_mut().poll(cx)));
        CATCHING.set(outer);
        match polled {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
