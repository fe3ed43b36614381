//! GraphQL over HTTP (graphql.github.io/graphql-over-http): reading requests from `POST`
//! bodies and `GET` query strings, content negotiation, and status codes.
//!
//! - `POST` takes `application/json` only: `text/plain`, forms and multipart are refused with
//!   415, so no cross-site page can run a mutation without a CORS preflight (CSRF).
//! - `Accept` picks `application/graphql-response+json` (preferred) or `application/json`;
//!   anything else is 406.
//! - Unparsable JSON or a missing `query` is 400; batches (JSON arrays) are not supported.
//! - With `application/graphql-response+json`, a request that fails before execution (parse
//!   or validation errors, no `data`) is answered 400; with `application/json` always 200.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::metrics::ServerFailure;
use super::status;
use crate::error::is_server_error_code;

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The response media type the client accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    GraphqlResponseJson,
    Json,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Media::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Media::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the response type from `Accept`; `None` when nothing acceptable is offered.
pub fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    let mut json = false;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let refused = parts.any(|p| p.replace(' ', "") == "q=0");
        if refused {
            continue;
        }
        match media.as_str() {
            GRAPHQL_RESPONSE_JSON => return Some(Media::GraphqlResponseJson),
            JSON | "application/*" | "*/*" => json = true,
            _ => {}
        }
    }
    json.then_some(Media::Json)
}

/// A request refused before it reached GraphQL execution.
pub fn refuse(
    status: StatusCode,
    media: Media,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response {
    refuse_field(status, media, code, message, None, request_id)
}

/// A malformed request, naming the part of it at fault (`Content-Type`, `body`, `query`,
/// `variables`, ...).
fn bad_request(media: Media, field: &str, message: &str, request_id: &str) -> Box<Response> {
    Box::new(refuse_field(
        StatusCode::BAD_REQUEST,
        media,
        "BAD_USER_INPUT",
        message,
        Some(field),
        request_id,
    ))
}

/// Like [`refuse`], naming the offending argument in `extensions.field`.
pub fn refuse_field(
    status: StatusCode,
    media: Media,
    code: &str,
    message: &str,
    field: Option<&str>,
    request_id: &str,
) -> Response {
    let mut extensions = json!({ "code": code, "requestId": request_id });
    if let Some(field) = field {
        extensions["field"] = json!(field);
    }
    refuse_with(status, media, message, extensions)
}

/// A refusal the client may retry: `extensions.retryAfter` and a `Retry-After` header, in
/// seconds.
pub fn refuse_retry(
    status: StatusCode,
    media: Media,
    code: &str,
    message: &str,
    retry_after_secs: u64,
    request_id: &str,
) -> Response {
    let extensions =
        json!({ "code": code, "requestId": request_id, "retryAfter": retry_after_secs });
    let mut response = refuse_with(status, media, message, extensions);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

fn refuse_with(
    status: StatusCode,
    media: Media,
    message: &str,
    extensions: serde_json::Value,
) -> Response {
    let server_failed = extensions["code"]
        .as_str()
        .is_some_and(is_server_error_code);
    let body = json!({ "errors": [{ "message": message, "extensions": extensions }] });
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.content_type()),
    );
    if server_failed {
        response.extensions_mut().insert(ServerFailure);
    }
    response
}

/// A body that could not be read: over `HTTP_BODY_LIMIT` (413), or cut short by the client.
pub fn body_refused(
    rejection: &axum::extract::rejection::BytesRejection,
    limit: usize,
    media: Media,
    request_id: &str,
) -> Response {
    let status = rejection.status();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("the body is larger than the limit of {limit} bytes (HTTP_BODY_LIMIT)")
    } else {
        "the body could not be read".to_owned()
    };
    refuse_field(
        status,
        media,
        "BAD_USER_INPUT",
        &message,
        Some("body"),
        request_id,
    )
}

/// Reads a `POST` body into a GraphQL request.
pub fn parse_post(
    headers: &HeaderMap,
    body: &[u8],
    media: Media,
    request_id: &str,
) -> Result<async_graphql::Request, Box<Response>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    if content_type.as_deref() != Some(JSON) {
        return Err(Box::new(refuse_field(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "BAD_USER_INPUT",
            "POST /graphql takes Content-Type: application/json",
            Some("Content-Type"),
            request_id,
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        bad_request(
            media,
            "body",
            &format!("the body is not JSON: {e}"),
            request_id,
        )
    })?;
    if value.is_array() {
        return Err(bad_request(
            media,
            "body",
            "batched requests are not supported: send one operation per request",
            request_id,
        ));
    }
    request_from_json(value)
        .map_err(|(field, message)| bad_request(media, field, &message, request_id))
}

/// Reads a `GET` query string into a GraphQL request.
pub fn parse_get(
    query: Option<&str>,
    media: Media,
    request_id: &str,
) -> Result<async_graphql::Request, Box<Response>> {
    let bad = |(field, message): (&str, String)| bad_request(media, field, &message, request_id);
    let mut object = serde_json::Map::new();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let value = match key.as_ref() {
            "query" | "operationName" => serde_json::Value::String(value.into_owned()),
            "variables" | "extensions" => serde_json::from_str(&value)
                .map_err(|_| bad((key.as_ref(), format!("the {key} parameter is not JSON"))))?,
            _ => continue,
        };
        object.insert(key.into_owned(), value);
    }
    request_from_json(serde_json::Value::Object(object)).map_err(bad)
}

/// A GraphQL request from its JSON form; an error names the member at fault.
fn request_from_json(
    value: serde_json::Value,
) -> Result<async_graphql::Request, (&'static str, String)> {
    let serde_json::Value::Object(object) = value else {
        return Err((
            "body",
            "the body must be a JSON object with a `query`".into(),
        ));
    };
    if !object
        .get("query")
        .is_some_and(serde_json::Value::is_string)
    {
        return Err(("query", "the request has no `query` string".into()));
    }
    for key in ["variables", "extensions"] {
        if object
            .get(key)
            .is_some_and(|v| !v.is_object() && !v.is_null())
        {
            return Err((key, format!("`{key}` must be a JSON object")));
        }
    }
    if object
        .get("operationName")
        .is_some_and(|v| !v.is_string() && !v.is_null())
    {
        return Err(("operationName", "`operationName` must be a string".into()));
    }
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| ("body", format!("not a GraphQL request: {e}")))
}

/// A response to a request that failed before execution: GraphQL over HTTP says it has no
/// `data` entry at all.
#[derive(serde::Serialize)]
struct ErrorsOnly<'a> {
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
}

/// Encodes an executed response with the negotiated type and status.
///
/// A request error (the document did not parse or validate, so nothing ran) is told apart
/// from a field error by its errors having no `path`; it is sent without a `data` entry, and
/// with status 400 under `application/graphql-response+json`. Objects keep the order of the
/// selection set, as the GraphQL spec asks.
pub fn respond(response: async_graphql::Response, media: Media) -> Response {
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let refusal = status::whole_refusal(&response);
    let status = if let Some((status, _)) = refusal {
        status
    } else if media == Media::GraphqlResponseJson && request_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let server_failed = response
        .errors
        .iter()
        .any(|e| status::code_of(e).is_some_and(is_server_error_code));
    // Serialized straight to bytes: going through `serde_json::Value` first cost a map
    // insert and an allocation per field of every object in the response.
    let body = if request_error {
        serde_json::to_vec(&ErrorsOnly {
            errors: &response.errors,
            extensions: &response.extensions,
        })
    } else {
        serde_json::to_vec(&response)
    };
    let body = body.unwrap_or_else(|error| {
        tracing::error!(%error, "could not serialize a GraphQL response");
        br#"{"errors":[{"message":"internal server error"}]}"#.to_vec()
    });
    let mut http = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(media.content_type()),
        )],
        body,
    )
        .into_response();
    for (name, value) in response.http_headers.iter() {
        http.headers_mut().append(name.clone(), value.clone());
    }
    if let Some((_, Some(seconds))) = refusal {
        http.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if server_failed {
        http.extensions_mut().insert(ServerFailure);
    }
    http
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<Media> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        negotiate(&headers)
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(Media::GraphqlResponseJson)
        );
        assert_eq!(accept("application/json"), Some(Media::Json));
        assert_eq!(accept("*/*"), Some(Media::Json));
        assert_eq!(accept("text/html"), None);
        assert_eq!(accept("application/json;q=0"), None);
    }

    #[test]
    fn bodies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(parse_post(&headers, br#"{"query":"{ me { id } }"}"#, Media::Json, "r").is_ok());
        for bad in [
            &b"{"[..],
            b"[]",
            br#"{"query": 1}"#,
            br#"{"query":"{a}","variables":"x"}"#,
            b"{}",
        ] {
            assert_eq!(
                parse_post(&headers, bad, Media::Json, "r")
                    .unwrap_err()
                    .status(),
                400
            );
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(
            parse_post(&headers, br#"{"query":"{a}"}"#, Media::Json, "r")
                .unwrap_err()
                .status(),
            415
        );
        assert!(
            parse_get(
                Some("query=%7B%20me%20%7B%20id%20%7D%20%7D&variables=%7B%7D"),
                Media::Json,
                "r"
            )
            .is_ok()
        );
        assert_eq!(
            parse_get(Some("variables=%7B"), Media::Json, "r")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(parse_get(None, Media::Json, "r").unwrap_err().status(), 400);
    }

    async fn body_of(response: Response) -> (StatusCode, String) {
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn responses_keep_the_selection_order() {
        let data = async_graphql::value!({ "zeta": 1, "alpha": { "y": true, "b": null } });
        let (status, body) = body_of(respond(
            async_graphql::Response::new(data),
            Media::GraphqlResponseJson,
        ))
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, r#"{"data":{"zeta":1,"alpha":{"y":true,"b":null}}}"#);
    }

    #[tokio::test]
    async fn request_errors_have_no_data() {
        let error = async_graphql::ServerError::new("unknown field", None);
        for (media, code) in [
            (Media::GraphqlResponseJson, StatusCode::BAD_REQUEST),
            (Media::Json, StatusCode::OK),
        ] {
            let response = async_graphql::Response::from_errors(vec![error.clone()]);
            let (status, body) = body_of(respond(response, media)).await;
            assert_eq!(status, code);
            assert_eq!(body, r#"{"errors":[{"message":"unknown field"}]}"#);
        }
    }
}
