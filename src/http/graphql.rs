//! `POST /graphql` and `GET /graphql` (queries only): reject → authorize → run → finish.
//!
//! The transport's checks run in the extractor ([`GraphqlRequest`]); then the document is
//! checked against the query limits before any SQL ([`reject`]), the bearer token becomes a
//! current principal and the introspection policy applies ([`authorize`]), the operation
//! runs on the route its type picks ([`run`]: a `query` on replicas, a `mutation` on the
//! primary for everything it resolves), and the response gets its codes, request id,
//! metrics and consistency token ([`finish`]).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::extract::GraphqlRequest;
use super::labels::Caller;
use super::operation::{Operation, inspect};
use super::transport::{self, Media};
use super::{client_ip, consistency};
use crate::AppState;
use crate::auth::middleware::{Credentials, principal, unauthenticated};
use crate::auth::principal::Auth;
use crate::db::gtid::track_commits;
use crate::db::{Held, Route, Token};
use crate::error::AppError;
use crate::graphql::loaders::Loaders;
use crate::request::RequestContext;

pub async fn handle(State(state): State<AppState>, request: GraphqlRequest) -> Response {
    let started = Instant::now();
    let checked = match reject(&state, request) {
        Ok(checked) => checked,
        Err(refusal) => return *refusal,
    };
    let ready = match authorize(&state, checked).await {
        Ok(ready) => ready,
        Err(refusal) => return *refusal,
    };
    finish(run(&state, ready).await, started)
}

/// A response that ends the request before it runs.
type Refusal = Box<Response>;

/// A request that passed [`reject`].
struct Checked {
    http: GraphqlRequest,
    operation: Operation,
    consistency: Option<Token>,
}

/// A request ready to run, with its data in place; then, run, with its response.
struct Run<R> {
    result: R,
    operation: Operation,
    media: Media,
    request_id: String,
    /// Anonymous and not allowed to see the schema: no "Did you mean" hints either.
    hide_hints: bool,
    /// An introspection-only request allowed to introspect (see [`run`]).
    introspection: bool,
}

/// Refusals before anything runs (no SQL, not even the auth check): a mutation over `GET`,
/// a document over the query limits, a malformed consistency token.
fn reject(state: &AppState, mut http: GraphqlRequest) -> Result<Checked, Refusal> {
    state.documents.parse(&mut http.request);
    let mut operation = inspect(&mut http.request, &state.limits);
    tracing::Span::current().record("operation", operation.name.as_str());
    // Logs keep the name; metrics get a label from a bounded set.
    let known = operation.found && operation.over_limit.is_none();
    let caller = match http.credentials {
        Credentials::Token(_) => Caller::SignedIn,
        Credentials::None => Caller::Anonymous,
    };
    operation.name = state.operation_labels.label(&operation.name, known, caller);
    let (media, id) = (http.media, http.request_id.as_str());
    if http.is_get && operation.route == Route::Write {
        return Err(post_only(media, id));
    }
    if let Some(error) = &operation.over_limit {
        count_operation(&operation.name, "refused", &[error.code()]);
        return Err(bad_request(media, error, id));
    }
    let consistency = consistency::from_headers(&http.headers)
        .map_err(|(field, message)| bad_request(media, &AppError::bad_input(field, message), id))?;
    Ok(Checked {
        http,
        operation,
        consistency,
    })
}

/// Turns verified claims into a current principal (one statement, on the connection the
/// request then keeps for its fields), puts the request's data in place, and applies the
/// introspection policy: signed-in users holding any permission may introspect (react-admin
/// and GraphiQL need it), everyone may when `GRAPHQL_PUBLIC_INTROSPECTION` is on.
async fn authorize(
    state: &AppState,
    checked: Checked,
) -> Result<Run<async_graphql::Request>, Refusal> {
    let Checked {
        http,
        operation,
        consistency,
    } = checked;
    let (media, request_id) = (http.media, http.request_id);
    let held = Arc::new(Held::default());
    let auth = caller(
        state,
        &http.credentials,
        &operation,
        consistency.as_ref(),
        &held,
    )
    .await
    .map_err(|error| failed(&operation.name, &error, media, &request_id))?;
    let may_introspect = state.config.public_introspection()
        || auth.principal().is_some_and(|p| !p.permissions.is_empty());
    let anonymous = auth.principal().is_none();
    if operation.introspects && !may_introspect {
        let name = &operation.name;
        return Err(introspection_refused(anonymous, name, media, &request_id));
    }
    let trusted = &state.config.http.trusted_proxies;
    let client_ip = http
        .peer
        .map(|peer| client_ip::resolve(&http.headers, peer, trusted));
    let context = RequestContext {
        request_id: request_id.clone(),
        route: operation.route,
        client_ip: client_ip.map(|ip| ip.to_string()),
        consistency: consistency.clone(),
    };
    let loaders = Loaders::new(&state.db, operation.route, consistency, held.clone());
    let mut request = http
        .request
        .data(context)
        .data(auth)
        .data(loaders)
        .data(held);
    if !may_introspect {
        request = request.disable_introspection();
    }
    Ok(Run {
        result: request,
        introspection: operation.introspection_only && may_introspect,
        hide_hints: anonymous && !may_introspect,
        operation,
        media,
        request_id,
    })
}

/// Executes the operation. A mutation's last commit becomes the client's consistency token,
/// and every mutation drops the cached list totals. The standard introspection query nests
/// deeper than any data query needs to, so it runs on a schema whose depth limit allows it
/// (it reads no data).
async fn run(
    state: &AppState,
    ready: Run<async_graphql::Request>,
) -> Run<(async_graphql::Response, Option<String>)> {
    let schema = if ready.introspection {
        &state.introspection_schema
    } else {
        &state.schema
    };
    let result = match ready.operation.route {
        Route::Write => {
            let flavor = state.db.flavor_cell().clone();
            let done = track_commits(flavor, schema.execute(ready.result)).await;
            state.counts.invalidate();
            done
        }
        Route::Read => (schema.execute(ready.result).await, None),
    };
    Run {
        result,
        operation: ready.operation,
        media: ready.media,
        request_id: ready.request_id,
        hide_hints: ready.hide_hints,
        introspection: ready.introspection,
    }
}

/// Every error gets a code and the request id, the operation its metrics, and a mutation's
/// response the client's new consistency token.
fn finish(done: Run<(async_graphql::Response, Option<String>)>, started: Instant) -> Response {
    let (mut response, committed) = done.result;
    if done.hide_hints {
        hide_suggestions(&mut response);
    }
    tag_errors(&mut response, &done.request_id);
    let codes: Vec<&str> = response
        .errors
        .iter()
        .filter_map(super::status::code_of)
        .collect();
    count_operation(&done.operation.name, result_of(&codes), &codes);
    let name = done.operation.name;
    metrics::histogram!("adminql_graphql_operation_duration_seconds", "operation" => name)
        .record(started.elapsed().as_secs_f64());
    if let Some(gtid) = &committed {
        consistency::attach(&mut response, gtid);
    }
    let mut http = transport::respond(response, done.media);
    if let Some(gtid) = &committed {
        consistency::set(&mut http, gtid);
    }
    http
}

/// Who calls: anonymous, or the principal the verified claims name, read the way the
/// request reads (one statement; its connection is the one the request keeps).
async fn caller(
    state: &AppState,
    credentials: &Credentials,
    operation: &Operation,
    token: Option<&Token>,
    held: &Held,
) -> Result<Auth, AppError> {
    match credentials {
        Credentials::None => Ok(Auth::Anonymous),
        Credentials::Token(claims) => {
            let principal = principal(&state.db, operation.route, token, held, claims).await?;
            Ok(Auth::User(Arc::new(principal)))
        }
    }
}

/// GraphQL over HTTP: mutations only over POST, so a link or <img> cannot change data.
fn post_only(media: Media, request_id: &str) -> Refusal {
    let status = StatusCode::METHOD_NOT_ALLOWED;
    let message = "mutations must use POST";
    let mut refusal = transport::refuse(status, media, "BAD_USER_INPUT", message, request_id);
    refusal
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    Box::new(refusal)
}

/// 400 for a request at fault, naming the offending part when the error does.
fn bad_request(media: Media, error: &AppError, request_id: &str) -> Refusal {
    let field = match error {
        AppError::BadInput { field, .. } => Some(field.as_str()),
        _ => None,
    };
    let (status, message) = (StatusCode::BAD_REQUEST, error.message());
    let code = error.code();
    Box::new(transport::refuse_field(
        status, media, code, &message, field, request_id,
    ))
}

/// The auth check refused the token (401), or failed on the server's side (no database
/// could answer it).
fn failed(name: &str, error: &AppError, media: Media, request_id: &str) -> Refusal {
    if let AppError::Unauthenticated(message) = error {
        return Box::new(unauthenticated(message, request_id));
    }
    count_operation(name, result_of(&[error.code()]), &[error.code()]);
    let error = async_graphql::ErrorExtensions::extend(error);
    // No `locations`: the error is about the request, not a place in the document.
    let mut refused = async_graphql::ServerError::new(error.message, None);
    refused.extensions = error.extensions;
    let mut response = async_graphql::Response::from_errors(vec![refused]);
    tag_errors(&mut response, request_id);
    Box::new(transport::respond(response, media))
}

fn introspection_refused(anonymous: bool, name: &str, media: Media, request_id: &str) -> Refusal {
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
    count_operation(name, "refused", &[code]);
    Box::new(transport::refuse(status, media, code, message, request_id))
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
