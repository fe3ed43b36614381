//! Consistency tokens at the edge: read from a request's `X-Consistency-Token` header or
//! `adminql_ct` cookie, and handed to the client after a mutation (header, cookie and
//! `extensions.consistencyToken`), so its next read sees its write (see `db::gtid`).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::db::Token;

pub const CONSISTENCY_HEADER: &str = "x-consistency-token";
const CONSISTENCY_COOKIE: &str = "adminql_ct";
/// Long enough to cover any replica lag we tolerate (`REPLICA_MAX_LAG`), short enough not to
/// pin a browser to the primary.
const CONSISTENCY_COOKIE_SECONDS: u32 = 60;

/// The request's consistency token: the header wins over the cookie. Malformed is an error,
/// which names where the token came from.
pub fn from_headers(headers: &HeaderMap) -> Result<Option<Token>, (&'static str, String)> {
    const HEADER: &str = "X-Consistency-Token";
    if let Some(value) = headers.get(CONSISTENCY_HEADER) {
        let raw = value
            .to_str()
            .map_err(|_| (HEADER, format!("{HEADER} is not text")))?;
        return Token::parse(raw).map(Some).map_err(|e| (HEADER, e));
    }
    for cookies in headers.get_all(header::COOKIE) {
        let Ok(cookies) = cookies.to_str() else {
            continue;
        };
        for pair in cookies.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=')
                && name == CONSISTENCY_COOKIE
            {
                return Token::from_cookie(value)
                    .map(Some)
                    .map_err(|e| (CONSISTENCY_COOKIE, e));
            }
        }
    }
    Ok(None)
}

/// Gives the client the GTID of its mutation's last commit.
pub fn attach(response: &mut async_graphql::Response, gtid: &str) {
    response
        .extensions
        .insert("consistencyToken".into(), async_graphql::Value::from(gtid));
}

/// Sets the token's header and cookie on the HTTP response.
pub fn set(http: &mut Response, gtid: &str) {
    let Ok(token) = Token::parse(gtid) else {
        return;
    };
    let headers = http.headers_mut();
    if let Ok(value) = HeaderValue::from_str(token.as_str()) {
        headers.insert(CONSISTENCY_HEADER, value);
    }
    let cookie = format!(
        "{CONSISTENCY_COOKIE}={}; Max-Age={CONSISTENCY_COOKIE_SECONDS}; Path=/; HttpOnly; SameSite=Strict",
        token.cookie_value()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.append(header::SET_COOKIE, value);
    }
}
