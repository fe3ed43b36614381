//! `POST /graphql` and `GET /graphql` (queries only).
//!
//! The operation type picks the route before execution: a `query` reads from replicas, a
//! `mutation` runs on the primary for everything it resolves. Every error leaves with an
//! `extensions.code` and the request id.

use std::net::SocketAddr;

use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::transport::{self, Media};
use super::{client_ip, request_id};
use crate::AppState;
use crate::auth::middleware::{Credentials, principal, unauthenticated};
use crate::auth::principal::Auth;
use crate::db::Route;
use crate::db::gtid::track_commits;
use crate::db::{Held, Token};
use crate::error::AppError;
use crate::graphql::limits::{self, QueryLimits};
use crate::graphql::loaders::Loaders;
use crate::request::RequestContext;

pub async fn post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(credentials): Extension<Credentials>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = request_id(&headers);
    let Some(media) = transport::negotiate(&headers) else {
        return not_acceptable(&request_id);
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let limit = state.config.http.body_limit;
            return transport::body_refused(&rejection, limit, media, &request_id);
        }
    };
    match transport::parse_post(&headers, &body, media, &request_id) {
        Ok(request) => execute(state, peer, credentials, headers, request, media, false).await,
        Err(refusal) => *refusal,
    }
}

pub async fn get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(credentials): Extension<Credentials>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let request_id = request_id(&headers);
    let Some(media) = transport::negotiate(&headers) else {
        return not_acceptable(&request_id);
    };
    match transport::parse_get(query.as_deref(), media, &request_id) {
        Ok(request) => execute(state, peer, credentials, headers, request, media, true).await,
        Err(refusal) => *refusal,
    }
}

/// 406, as a GraphQL error in plain JSON (what the client accepts is unknown).
fn not_acceptable(request_id: &str) -> Response {
    transport::refuse_field(
        StatusCode::NOT_ACCEPTABLE,
        Media::Json,
        "BAD_USER_INPUT",
        "Accept application/graphql-response+json or application/json",
        Some("Accept"),
        request_id,
    )
}

async fn execute(
    state: AppState,
    peer: SocketAddr,
    credentials: Credentials,
    headers: HeaderMap,
    mut request: async_graphql::Request,
    media: Media,
    is_get: bool,
) -> Response {
    let started = Instant::now();
    let request_id = request_id(&headers);
    state.documents.parse(&mut request);
    let Operation {
        route,
        introspection_only,
        name,
        over_limit,
        introspects,
        found,
    } = inspect(&mut request, &state.limits);
    tracing::Span::current().record("operation", name.as_str());
    // Logs keep the name; metrics get a label from a bounded set.
    let name = state
        .operation_labels
        .label(&name, found && over_limit.is_none());
    if is_get && route == Route::Write {
        // GraphQL over HTTP: mutations only over POST, so a link or <img> cannot change data.
        let mut response = transport::refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            "BAD_USER_INPUT",
            "mutations must use POST",
            &request_id,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if let Some(error) = over_limit {
        // Refused before anything runs: no SQL, not even the auth check.
        count_operation(&name, "refused", &[error.code()]);
        let field = match &error {
            AppError::BadInput { field, .. } => Some(field.as_str()),
            _ => None,
        };
        return transport::refuse_field(
            StatusCode::BAD_REQUEST,
            media,
            error.code(),
            &error.message(),
            field,
            &request_id,
        );
    }
    let consistency = match consistency_token(&headers) {
        Ok(token) => token,
        Err((field, message)) => {
            return transport::refuse_field(
                StatusCode::BAD_REQUEST,
                media,
                "BAD_USER_INPUT",
                &message,
                Some(field),
                &request_id,
            );
        }
    };
    let context = RequestContext {
        request_id: request_id.clone(),
        route,
        client_ip: Some(
            client_ip::resolve(&headers, peer, &state.config.http.trusted_proxies).to_string(),
        ),
        consistency: consistency.clone(),
    };
    // The auth check's connection serves the fields that follow it (one checkout).
    let held = Arc::new(Held::default());
    let auth = match credentials {
        Credentials::None => Auth::Anonymous,
        Credentials::Token(claims) => {
            match principal(&state.db, route, consistency.as_ref(), &held, &claims).await {
                Ok(principal) => Auth::User(Arc::new(principal)),
                Err(AppError::Unauthenticated(message)) => {
                    return unauthenticated(&message, &request_id);
                }
                Err(error) => {
                    count_operation(&name, result_of(&[error.code()]), &[error.code()]);
                    let error = async_graphql::ErrorExtensions::extend(&error);
                    let mut response = async_graphql::Response::from_errors(vec![
                        error.into_server_error(Default::default()),
                    ]);
                    tag_errors(&mut response, &request_id);
                    return transport::respond(response, media);
                }
            }
        }
    };
    // Introspection is for signed-in users holding any permission (react-admin and GraphiQL
    // need it), and for everyone when GRAPHQL_PUBLIC_INTROSPECTION is on.
    let may_introspect = state.config.public_introspection()
        || auth.principal().is_some_and(|p| !p.permissions.is_empty());
    let anonymous = auth.principal().is_none();
    let mut request = request
        .data(context)
        .data(auth)
        .data(Loaders::new(&state.db, route, consistency, held.clone()))
        .data(held);
    if !may_introspect {
        if introspects {
            let (status, code, message) = if anonymous {
                (
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    "sign in to introspect the schema",
                )
            } else {
                (
                    StatusCode::FORBIDDEN,
                    "FORBIDDEN",
                    "introspection needs an admin permission",
                )
            };
            count_operation(&name, "refused", &[code]);
            return transport::refuse(status, media, code, message, &request_id);
        }
        request = request.disable_introspection();
    }
    // The standard introspection query nests deeper than any data query needs to, so it runs
    // on a schema whose depth limit allows it (it reads no data).
    let schema = if introspection_only && may_introspect {
        &state.introspection_schema
    } else {
        &state.schema
    };
    let (mut response, committed) = match route {
        // A mutation's last commit becomes the client's consistency token.
        Route::Write => {
            let done = track_commits(state.db.flavor_cell().clone(), schema.execute(request)).await;
            state.counts.invalidate();
            done
        }
        Route::Read => (schema.execute(request).await, None),
    };
    if anonymous && !may_introspect {
        hide_suggestions(&mut response);
    }
    tag_errors(&mut response, &request_id);
    let codes: Vec<&str> = response
        .errors
        .iter()
        .filter_map(|e| e.extensions.as_ref()?.get("code"))
        .filter_map(|v| match v {
            async_graphql::Value::String(code) => Some(code.as_str()),
            _ => None,
        })
        .collect();
    count_operation(&name, result_of(&codes), &codes);
    metrics::histogram!("adminql_graphql_operation_duration_seconds", "operation" => name.clone())
        .record(started.elapsed().as_secs_f64());
    let Some(gtid) = committed else {
        return transport::respond(response, media);
    };
    response.extensions.insert(
        "consistencyToken".into(),
        async_graphql::Value::from(gtid.as_str()),
    );
    let mut http = transport::respond(response, media);
    if let Ok(token) = Token::parse(&gtid) {
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
    http
}

pub const CONSISTENCY_HEADER: &str = "x-consistency-token";
const CONSISTENCY_COOKIE: &str = "adminql_ct";
/// Long enough to cover any replica lag we tolerate (`REPLICA_MAX_LAG`), short enough not to
/// pin a browser to the primary.
const CONSISTENCY_COOKIE_SECONDS: u32 = 60;

/// The request's consistency token: the header wins over the cookie. Malformed is an error,
/// which names where the token came from.
fn consistency_token(headers: &HeaderMap) -> Result<Option<Token>, (&'static str, String)> {
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

/// Drops "Did you mean ...?" hints, which would let anonymous clients map the schema.
fn hide_suggestions(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        if let Some(at) = error.message.find(" Did you mean") {
            error.message.truncate(at);
        }
    }
}

/// Gives every error a code (`BAD_USER_INPUT` for parse and validation errors, which come
/// without one) and the request id.
fn tag_errors(response: &mut async_graphql::Response, request_id: &str) {
    for error in &mut response.errors {
        let ext = error.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", "BAD_USER_INPUT");
        }
        ext.set("requestId", request_id);
    }
}

/// What the handler needs to know about a request before running it.
struct Operation {
    route: Route,
    /// Every root field is an introspection field (`__schema`, `__type`, `__typename`).
    introspection_only: bool,
    /// For logs and metrics: the operation's name, `anonymous`, or `other` when it is not a
    /// short identifier (clients choose names; they must not explode metric labels).
    name: String,
    /// A query limit the operation breaks, if any.
    over_limit: Option<AppError>,
    /// Asks for `__schema` or `__type`.
    introspects: bool,
    /// The document parsed and holds the operation to run (so its name is a real one).
    found: bool,
}

/// Finds the operation to run: its type decides the route. An unparsable document routes as
/// a read (it fails validation without touching a database).
fn inspect(request: &mut async_graphql::Request, limits: &QueryLimits) -> Operation {
    let name = request.operation_name.clone();
    let variables = request.variables.clone();
    let unknown = |name: &Option<String>| Operation {
        route: Route::Read,
        introspection_only: false,
        name: label(name.as_deref()),
        over_limit: None,
        introspects: false,
        found: false,
    };
    let Ok(document) = request.parsed_query() else {
        return unknown(&name);
    };
    let (operation, name) = match &document.operations {
        DocumentOperations::Single(op) => (Some(op), name),
        DocumentOperations::Multiple(ops) => match name {
            Some(name) => (ops.get(name.as_str()), Some(name)),
            None if ops.len() == 1 => match ops.iter().next() {
                Some((n, op)) => (Some(op), Some(n.to_string())),
                None => (None, None),
            },
            None => (None, None),
        },
    };
    let Some(operation) = operation else {
        return unknown(&name);
    };
    let introspects = operation.node.selection_set.node.items.iter().any(
        |item| matches!(&item.node, Selection::Field(f) if matches!(f.node.name.node.as_str(), "__schema" | "__type")),
    );
    let introspection_only = operation.node.selection_set.node.items.iter().all(
        |item| matches!(&item.node, Selection::Field(f) if f.node.name.node.starts_with("__")),
    );
    // The standard introspection query (GraphiQL, Apollo, react-admin) nests type references
    // deeply and reads no data; it gets the introspection schema's limits.
    let introspection_limits;
    let limits = if introspection_only {
        introspection_limits = QueryLimits {
            max_depth: limits.max_depth.max(crate::graphql::INTROSPECTION_DEPTH),
            max_fields: limits.max_fields.saturating_mul(5),
            ..limits.clone()
        };
        &introspection_limits
    } else {
        limits
    };
    let over_limit = limits::check(document, &operation.node, &variables, limits).err();
    let name = label(name.as_deref().or_else(|| {
        operation
            .node
            .selection_set
            .node
            .items
            .is_empty()
            .then_some("empty")
    }));
    Operation {
        route: match operation.node.ty {
            OperationType::Mutation => Route::Write,
            _ => Route::Read,
        },
        introspection_only,
        name,
        over_limit,
        introspects,
        found: true,
    }
}

fn label(name: Option<&str>) -> String {
    match name {
        None => "anonymous".into(),
        Some(n) if n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            n.into()
        }
        Some(_) => "other".into(),
    }
}

/// The `result` label of an executed operation: `server_error` when any error is the
/// server's fault (what the availability SLI counts), `error` for client errors, else `ok`.
fn result_of(codes: &[&str]) -> &'static str {
    if codes.iter().any(|c| crate::error::is_server_error_code(c)) {
        "server_error"
    } else if codes.is_empty() {
        "ok"
    } else {
        "error"
    }
}

fn count_operation(name: &str, result: &'static str, codes: &[&str]) {
    metrics::counter!("adminql_graphql_operations_total", "operation" => name.to_owned(), "result" => result)
        .increment(1);
    for code in codes {
        metrics::counter!("adminql_graphql_errors_total", "code" => (*code).to_owned())
            .increment(1);
    }
}
