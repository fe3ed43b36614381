//! The admin web UI at `/admin`: a react-admin application (`web/`) built at build time and
//! embedded in the binary (see build.rs), so it works offline and loads nothing from a CDN.
//!
//! Assets are served precompressed (brotli or gzip, as the browser accepts) under
//! content-hashed names with a year-long immutable cache; `index.html` is never cached, and
//! carries a strict Content-Security-Policy with a fresh nonce for MUI's `<style>` elements.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::AppState;

/// One built file and its compressed copies.
pub struct Asset {
    pub path: &'static str,
    pub raw: &'static [u8],
    pub gzip: &'static [u8],
    pub brotli: &'static [u8],
}

pub static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/admin_assets.rs"));

const NONCE_PLACEHOLDER: &str = "__CSP_NONCE__";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(index))
        .route("/admin/", get(index))
        .route(
            "/admin/index.html",
            get(|| async { Redirect::permanent("/admin/") }),
        )
        .route("/admin/{*path}", get(asset))
}

/// The policy for a page whose styles carry `nonce`: scripts, fetches, fonts and images
/// from this origin only; no inline script, no eval, no framing.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; \
         img-src 'self' data:; font-src 'self' data:; connect-src 'self'; manifest-src 'self'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

async fn index() -> Response {
    let page = find("index.html").expect("the build always has index.html");
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let body = String::from_utf8_lossy(page.raw).replace(NONCE_PLACEHOLDER, &nonce);
    let mut headers = security_headers();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&content_security_policy(&nonce)).expect("ASCII policy"),
    );
    (headers, body).into_response()
}

async fn asset(Path(path): Path<String>, request: HeaderMap) -> Response {
    let Some(asset) = find(&path).filter(|a| a.path != "index.html") else {
        return (StatusCode::NOT_FOUND, security_headers(), "not found").into_response();
    };
    let mut headers = security_headers();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(asset.path)),
    );
    // Vite names every asset after its content: a new build is a new name.
    let cache = if asset.path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    let body = match preferred_encoding(&request) {
        Some("br") => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
            asset.brotli
        }
        Some(_) => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            asset.gzip
        }
        None => asset.raw,
    };
    (headers, body).into_response()
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

fn security_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
}

/// `br` if the client accepts it, else `gzip` if it accepts that, else none (q=0 refuses).
fn preferred_encoding(request: &HeaderMap) -> Option<&'static str> {
    let accepted = |name: &str| {
        request
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|item| {
                let mut parts = item.split(';').map(str::trim);
                let coding = parts.next().unwrap_or_default();
                let refused = parts.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                (coding.eq_ignore_ascii_case(name) || coding == "*") && !refused
            })
    };
    if accepted("br") {
        Some("br")
    } else if accepted("gzip") {
        Some("gzip")
    } else {
        None
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The budget from issue 21: everything a browser downloads for the UI, compressed.
    const BUDGET_BYTES: usize = 1024 * 1024;

    #[test]
    fn the_whole_ui_fits_the_size_budget_compressed() {
        let brotli: usize = ASSETS.iter().map(|a| a.brotli.len()).sum();
        let gzip: usize = ASSETS.iter().map(|a| a.gzip.len()).sum();
        assert!(
            brotli <= BUDGET_BYTES,
            "admin UI is {brotli} bytes with brotli, over {BUDGET_BYTES}"
        );
        assert!(
            gzip <= BUDGET_BYTES,
            "admin UI is {gzip} bytes with gzip, over {BUDGET_BYTES}"
        );
        assert!(
            ASSETS.iter().any(|a| a.path.ends_with(".js")),
            "no script was built"
        );
    }

    #[test]
    fn index_html_has_the_nonce_placeholder_and_no_inline_script() {
        let page = std::str::from_utf8(find("index.html").unwrap().raw).unwrap();
        assert!(page.contains(NONCE_PLACEHOLDER));
        for tag in page.split("<script").skip(1) {
            assert!(
                tag.contains(" src="),
                "inline script in index.html: <script{tag}"
            );
        }
    }

    #[test]
    fn encodings_follow_accept_encoding() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            preferred_encoding(&h)
        };
        assert_eq!(with("gzip, deflate, br, zstd"), Some("br"));
        assert_eq!(with("gzip"), Some("gzip"));
        assert_eq!(with("br;q=0, gzip;q=0.5"), Some("gzip"));
        assert_eq!(with("identity"), None);
        assert_eq!(preferred_encoding(&HeaderMap::new()), None);
    }
}
