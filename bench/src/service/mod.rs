//! The second baseline: a hand-written HTTP service for the three benchmarked requests, with
//! adminql's guarantees and nothing else. It runs as its own process (this binary, started
//! with `service`; see [`process`]), like adminql, on a tokio runtime with one worker per CPU,
//! and the same load generator and body checks drive it.
//!
//! Per request it does what any service must to give adminql's answers:
//! - HTTP/1.1 with keep-alive (hyper), `POST /graphql` with `Content-Type: application/json`
//!   only (adminql's CSRF rule), a body limit of adminql's default `HTTP_BODY_LIMIT`;
//! - the JSON request (`query`, `variables`) parsed once into typed fields;
//! - the bearer token verified as adminql verifies it (jsonwebtoken, HS256, the same secret,
//!   issuer, audience, required claims and leeway);
//! - the operation picked by its document text (the service knows three documents, as a
//!   persisted-query server would: no GraphQL parsing or validation);
//! - [`Minimal`]'s statements: the auth check in one statement, then the data, on the same
//!   pools as the direct baseline would use (replica for reads, primary for writes);
//! - the same JSON answer (`data` in selection order, `createdAt` as RFC 3339, ids as
//!   strings), a request id (`x-request-id`, also written to the audit row), and after a
//!   mutation the consistency token in `extensions`, a header and a cookie.
//!
//! What it leaves out: logs and metrics (adminql's are off or cheap at `RUST_LOG=warn`, see
//! bench/README.md), CORS, GET, batching, every other operation, and waiting for a consistency
//! token on reads (the load generator sends none, and adminql does nothing for a request
//! without one either).

pub mod process;

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, SET_COOKIE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize, Serializer};
use tokio::net::TcpListener;

use crate::minimal::{self, Caller, Minimal, Pools};
use crate::scenario::{UPDATE_USER, USER_BY_ID, USER_LIST};

/// adminql's default `HTTP_BODY_LIMIT`.
const BODY_LIMIT: usize = 1024 * 1024;
/// adminql's `LEEWAY_SECONDS`.
const LEEWAY_SECONDS: u64 = 30;
const JSON: &str = "application/json; charset=utf-8";

/// What the service needs, passed by [`process`] in its environment.
pub struct Settings {
    pub listen: SocketAddr,
    pub primary_url: String,
    pub replica_url: String,
    pub pool_size: usize,
    pub jwt_secret: String,
    pub issuer: String,
    pub audience: String,
}

/// The service's state, shared by every connection.
struct App {
    minimal: Minimal,
    key: DecodingKey,
    validation: Validation,
}

/// The claims the service reads (jsonwebtoken checks `exp`, `nbf`, `iss` and `aud` itself).
#[derive(Deserialize)]
struct Claims {
    sub: String,
    token_version: i64,
}

/// A GraphQL-over-HTTP request body, borrowed from the bytes where it can be.
#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    query: Cow<'a, str>,
    #[serde(default)]
    variables: Variables<'a>,
}

/// Every variable of the three documents.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Variables<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    page: Option<i64>,
    per_page: Option<i64>,
}

/// An id, written as a GraphQL `ID` (a string).
struct Id(i64);

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[derive(Serialize)]
struct Data<T> {
    data: T,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserOut<'a> {
    id: Id,
    email: &'a str,
    name: &'a str,
    active: bool,
    created_at: String,
}

#[derive(Serialize)]
struct UserById<'a> {
    #[serde(rename = "User")]
    user: UserOut<'a>,
}

#[derive(Serialize)]
struct RoleOut<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct ListedUser<'a> {
    id: Id,
    email: &'a str,
    name: &'a str,
    active: bool,
    roles: Vec<RoleOut<'a>>,
}

#[derive(Serialize)]
struct Count {
    count: i64,
}

#[derive(Serialize)]
struct UserList<'a> {
    #[serde(rename = "allUsers")]
    all_users: Vec<ListedUser<'a>>,
    #[serde(rename = "_allUsersMeta")]
    meta: Count,
}

#[derive(Serialize)]
struct NameOut<'a> {
    id: Id,
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UpdateUser<'a> {
    update_user: NameOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Consistency<'a> {
    consistency_token: &'a str,
}

#[derive(Serialize)]
struct Mutated<'a> {
    data: UpdateUser<'a>,
    extensions: Consistency<'a>,
}

/// A request the service refuses or could not answer: its status and GraphQL error code.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_input(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message)
    }
}

impl From<minimal::Error> for Refusal {
    fn from(e: minimal::Error) -> Refusal {
        let message = e.to_string();
        match e {
            minimal::Error::Unauthenticated => {
                Refusal::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
            }
            minimal::Error::Forbidden(_) => Refusal::new(StatusCode::OK, "FORBIDDEN", message),
            minimal::Error::NotFound(_) => Refusal::new(StatusCode::OK, "NOT_FOUND", message),
            minimal::Error::Failed(_) => {
                Refusal::new(StatusCode::OK, "INTERNAL_SERVER_ERROR", message)
            }
        }
    }
}

/// A response with a JSON body and the request id.
fn json(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
    response
}

fn refused(refusal: Refusal, request_id: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "data": null,
        "errors": [{
            "message": refusal.message,
            "extensions": { "code": refusal.code, "requestId": request_id },
        }],
    });
    json(refusal.status, body.to_string().into_bytes(), request_id)
}

/// A random version 4 UUID, as adminql's request ids are.
fn request_id() -> String {
    let n = fastrand::u128(..) & !(0xF000 << 64) & !(0xC << 60) | (0x4000 << 64) | (0x8 << 60);
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

impl App {
    async fn handle(&self, req: Request<Incoming>, client_ip: &str) -> Response<Full<Bytes>> {
        if req.method() == Method::GET && req.uri().path() == "/ready" {
            return json(StatusCode::OK, b"{}".to_vec(), "-");
        }
        let request_id = request_id();
        if req.method() != Method::POST || req.uri().path() != "/graphql" {
            let refusal = Refusal::new(StatusCode::NOT_FOUND, "NOT_FOUND", "POST /graphql only");
            return refused(refusal, &request_id);
        }
        match self.graphql(req, &request_id, client_ip).await {
            Ok(response) => response,
            Err(refusal) => refused(refusal, &request_id),
        }
    }

    /// The bearer token's caller, verified.
    fn caller(&self, req: &Request<Incoming>) -> Result<Caller, Refusal> {
        let unauthenticated =
            |m: &str| Refusal::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", m);
        let token = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthenticated("sign in first"))?;
        let claims = jsonwebtoken::decode::<Claims>(token.trim(), &self.key, &self.validation)
            .map_err(|_| unauthenticated("invalid or expired token"))?
            .claims;
        Ok(Caller {
            user_id: claims
                .sub
                .parse()
                .map_err(|_| unauthenticated("invalid or expired token"))?,
            token_version: claims.token_version,
        })
    }

    async fn graphql(
        &self,
        req: Request<Incoming>,
        request_id: &str,
        client_ip: &str,
    ) -> Result<Response<Full<Bytes>>, Refusal> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "BAD_USER_INPUT",
                "POST /graphql takes Content-Type: application/json",
            ));
        }
        let caller = self.caller(&req)?;
        let bytes = Limited::new(req.into_body(), BODY_LIMIT)
            .collect()
            .await
            .map_err(|e| Refusal::bad_input(format!("the body could not be read: {e}")))?
            .to_bytes();
        let body: Body = serde_json::from_slice(&bytes)
            .map_err(|e| Refusal::bad_input(format!("the body is not a GraphQL request: {e}")))?;
        let vars = &body.variables;
        let id = || -> Result<i64, Refusal> {
            vars.id
                .as_deref()
                .and_then(|id| id.parse().ok())
                .ok_or_else(|| Refusal::bad_input("`id` must be an ID"))
        };
        let out = match body.query.as_ref() {
            USER_BY_ID => {
                let user = self.minimal.user_by_id(caller, id()?).await?;
                serde_json::to_vec(&Data {
                    data: UserById {
                        user: UserOut {
                            id: Id(user.id),
                            email: &user.email,
                            name: &user.name,
                            active: user.active,
                            created_at: minimal::rfc3339(&user.created_at),
                        },
                    },
                })
            }
            USER_LIST => {
                let (Some(page), Some(per_page)) = (vars.page, vars.per_page) else {
                    return Err(Refusal::bad_input("`page` and `perPage` are required"));
                };
                if !(1..=100).contains(&per_page) || page < 0 {
                    return Err(Refusal::bad_input("`perPage` is 1-100, `page` from 0"));
                }
                let page = self.minimal.user_list(caller, page, per_page).await?;
                let all_users = page
                    .users
                    .iter()
                    .map(|(u, roles)| ListedUser {
                        id: Id(u.id),
                        email: &u.email,
                        name: &u.name,
                        active: u.active,
                        roles: roles.iter().map(|name| RoleOut { name }).collect(),
                    })
                    .collect();
                serde_json::to_vec(&Data {
                    data: UserList {
                        all_users,
                        meta: Count { count: page.total },
                    },
                })
            }
            UPDATE_USER => {
                let name = vars
                    .name
                    .as_deref()
                    .ok_or_else(|| Refusal::bad_input("`name` is required"))?;
                let updated = self
                    .minimal
                    .update_user(caller, id()?, name, request_id, client_ip)
                    .await?;
                let body = serde_json::to_vec(&Mutated {
                    data: UpdateUser {
                        update_user: NameOut {
                            id: Id(updated.id),
                            name: &updated.name,
                        },
                    },
                    extensions: Consistency {
                        consistency_token: &updated.gtid,
                    },
                })
                .map_err(|e| Refusal::bad_input(e.to_string()))?;
                let mut response = json(StatusCode::OK, body, request_id);
                let headers = response.headers_mut();
                if let Ok(token) = HeaderValue::from_str(&updated.gtid) {
                    headers.insert("x-consistency-token", token);
                }
                let cookie = format!(
                    "adminql_ct={}; Max-Age=60; Path=/; HttpOnly; SameSite=Strict",
                    updated.gtid.replace(',', "/")
                );
                if let Ok(cookie) = HeaderValue::from_str(&cookie) {
                    headers.append(SET_COOKIE, cookie);
                }
                return Ok(response);
            }
            _ => return Err(Refusal::bad_input("unknown document")),
        };
        let out = out.map_err(|e| Refusal::bad_input(e.to_string()))?;
        Ok(json(StatusCode::OK, out, request_id))
    }
}

/// The service's `main`: serves until its standard input closes (the benchmark ended or
/// died), like adminql under the benchmark's watchdog.
pub fn main(settings: Settings) -> ExitCode {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench service: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench service: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let pools = Pools::new(
        &settings.primary_url,
        &settings.replica_url,
        settings.pool_size,
    )?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECONDS;
    let app = Arc::new(App {
        minimal: Minimal::new(&pools),
        key: DecodingKey::from_secret(settings.jwt_secret.as_bytes()),
        validation,
    });
    let listener = TcpListener::bind(settings.listen).await?;
    loop {
        let (stream, peer) = listener.accept().await?;
        let app = app.clone();
        let client_ip: Arc<str> = peer.ip().to_string().into();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let app = app.clone();
                let client_ip = client_ip.clone();
                async move { Ok::<_, Infallible>(app.handle(req, &client_ip).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_v4() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn answers_in_adminql_shape() {
        let body = serde_json::to_string(&Data {
            data: UserById {
                user: UserOut {
                    id: Id(7),
                    email: "a@b.c",
                    name: "A",
                    active: true,
                    created_at: "2026-12-01T09:05:07+00:00".into(),
                },
            },
        })
        .unwrap();
        assert_eq!(
            body,
            r#"{"data":{"User":{"id":"7","email":"a@b.c","name":"A","active":true,"createdAt":"2026-12-01T09:05:07+00:00"}}}"#
        );
        let parsed: Body =
            serde_json::from_slice(br#"{"query":"q","variables":{"page":2,"perPage":20}}"#)
                .unwrap();
        assert_eq!(
            (parsed.variables.page, parsed.variables.per_page),
            (Some(2), Some(20))
        );
    }
}
