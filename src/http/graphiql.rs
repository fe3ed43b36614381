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

/// The page's policy: scripts, styles, fetches and fonts from this origin only, plus the one
/// inline `<style>` of index.html by its hash (a test keeps the hash in step with the page).
const CSP: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'sha256-cF6WkRIIyl/xa9ibM1rR6oAvVX0osOAGO3O/6F0RtFE='; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";
const APP_JS: &str = include_str!("graphiql/app.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/graphiql",
            get(|| async {
                (
                    [
                        (header::CONTENT_SECURITY_POLICY, CSP),
                        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                    ],
                    Html(PAGE),
                )
            }),
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use sha2::Digest;

    #[test]
    fn the_policy_allows_the_inline_style_of_the_page_by_its_hash() {
        let style = PAGE
            .split_once("<style>")
            .and_then(|(_, rest)| rest.split_once("</style>"))
            .map(|(style, _)| style)
            .expect("index.html has one inline <style>");
        let hash = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(style.as_bytes()));
        assert!(
            CSP.contains(&format!("'sha256-{hash}'")),
            "style hash is sha256-{hash}: update CSP"
        );
        assert!(
            !PAGE.contains("<script>"),
            "an inline script would need its own hash"
        );
    }
}
