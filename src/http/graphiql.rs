//! GraphiQL, served entirely by the binary (assets embedded at build time; see build.rs),
//! so the IDE works offline and behind strict egress rules.

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use crate::AppState;

macro_rules! asset {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/graphiql/", $name))
    };
}

const PAGE: &str = include_str!("graphiql/index.html");
const APP_JS: &str = include_str!("graphiql/app.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/graphiql", get(|| async { Html(PAGE) }))
        .route(
            "/graphiql/app.js",
            get(|| async { javascript(APP_JS.as_bytes()) }),
        )
        .route(
            "/graphiql/graphiql.min.js",
            get(|| async { javascript(asset!("graphiql.min.js")) }),
        )
        .route(
            "/graphiql/react.production.min.js",
            get(|| async { javascript(asset!("react.production.min.js")) }),
        )
        .route(
            "/graphiql/react-dom.production.min.js",
            get(|| async { javascript(asset!("react-dom.production.min.js")) }),
        )
        .route(
            "/graphiql/graphiql.min.css",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                        (header::CACHE_CONTROL, "public, max-age=86400"),
                    ],
                    asset!("graphiql.min.css").as_slice(),
                )
            }),
        )
}

fn javascript(body: &'static [u8]) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
}
