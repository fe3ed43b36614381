//! The scenarios, and the adminql client that runs them over GraphQL and checks every
//! response body: a `200` whose body carries `errors`, or lacks the data asked for, counts
//! as a failure.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::HeaderValue;
use serde_json::{Value, json};

use crate::http::Connection;
use crate::load::Client;
use crate::seed::Dataset;

/// Rows per page in scenario 2.
pub const PAGE_SIZE: usize = 20;
/// Scenario 2 reads one of the first this many pages (what an admin UI shows).
pub const PAGES: usize = 50;

/// One kind of request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Op {
    UserById,
    UserList,
    UpdateUser,
    Login,
}

/// A benchmark scenario: one operation, or a mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Scenario {
    UserById,
    UserList,
    UpdateUser,
    Login,
    /// 90 % reads (half `User(id)`, half the user list) and 10 % `updateUser`.
    Mixed,
}

impl Scenario {
    /// Every scenario, in the order they run: login last, because argon2's buffers stay in
    /// adminql's heap afterwards and would show in the peak RSS of what ran after it.
    pub const RUN_ORDER: [Scenario; 5] = [
        Scenario::UserById,
        Scenario::UserList,
        Scenario::UpdateUser,
        Scenario::Mixed,
        Scenario::Login,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Scenario::UserById => "1 User(id)",
            Scenario::UserList => "2 allUsers(perPage: 20) + roles + meta",
            Scenario::UpdateUser => "3 updateUser(name)",
            Scenario::Login => "4 login (argon2id)",
            Scenario::Mixed => "5 mixed 90% read / 10% write",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Scenario::UserById => "user_by_id",
            Scenario::UserList => "user_list",
            Scenario::UpdateUser => "update_user",
            Scenario::Login => "login",
            Scenario::Mixed => "mixed",
        }
    }

    /// The baselines exist for these (the operation, not argon2, is what they
    /// measure).
    pub fn has_baseline(self) -> bool {
        matches!(
            self,
            Scenario::UserById | Scenario::UserList | Scenario::UpdateUser
        )
    }

    /// The operation of the next request.
    pub fn pick(self, rng: &mut fastrand::Rng) -> Op {
        match self {
            Scenario::UserById => Op::UserById,
            Scenario::UserList => Op::UserList,
            Scenario::UpdateUser => Op::UpdateUser,
            Scenario::Login => Op::Login,
            Scenario::Mixed => match rng.u32(0..100) {
                0..45 => Op::UserById,
                45..90 => Op::UserList,
                _ => Op::UpdateUser,
            },
        }
    }
}

pub const USER_BY_ID: &str =
    "query UserById($id: ID!) { User(id: $id) { id email name active createdAt } }";
pub const USER_LIST: &str = "query UserList($page: Int!, $perPage: Int!) { allUsers(page: $page, perPage: $perPage, sortField: \"email\") { id email name active roles { name } } _allUsersMeta { count } }";
pub const UPDATE_USER: &str = "mutation UpdateUser($id: ID!, $name: String!) { updateUser(id: $id, name: $name) { id name } }";
pub const LOGIN: &str = "mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { token } }";

/// A request body and how to check its answer.
pub struct Request {
    pub body: Bytes,
    check: Check,
}

enum Check {
    User(String),
    List { rows: usize, count: i64 },
    Updated(String),
    Token,
}

/// Builds the next request of `op` on the data set.
pub fn request(op: Op, data: &Dataset, per_page: usize, rng: &mut fastrand::Rng) -> Request {
    let (query, variables, check) = match op {
        Op::UserById => {
            let id = data.user_ids[rng.usize(..data.user_ids.len())].to_string();
            (USER_BY_ID, json!({ "id": id }), Check::User(id))
        }
        Op::UserList => {
            let pages = (data.total_users as usize / per_page).clamp(1, PAGES);
            let page = rng.usize(..pages);
            (
                USER_LIST,
                json!({ "page": page, "perPage": per_page }),
                Check::List {
                    rows: per_page,
                    count: data.total_users,
                },
            )
        }
        Op::UpdateUser => {
            let id = data.user_ids[rng.usize(..data.user_ids.len())].to_string();
            let name = format!("Bench User {}", rng.u32(..1_000_000));
            (
                UPDATE_USER,
                json!({ "id": id, "name": name }),
                Check::Updated(name),
            )
        }
        Op::Login => {
            let email = &data.emails[rng.usize(..data.emails.len())];
            (
                LOGIN,
                json!({ "email": email, "password": data.password }),
                Check::Token,
            )
        }
    };
    let body = json!({ "query": query, "variables": variables }).to_string();
    Request {
        body: Bytes::from(body),
        check,
    }
}

/// Checks a GraphQL answer: HTTP 200, no `errors`, and the data the request asked for.
pub fn check(request: &Request, status: StatusCode, body: &[u8]) -> Result<(), String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("HTTP {status}: body is not JSON: {e}"))?;
    if let Some(errors) = value.get("errors").filter(|e| !e.is_null()) {
        let first = &errors[0];
        return Err(format!(
            "HTTP {status}: error {}: {}",
            first["extensions"]["code"].as_str().unwrap_or("?"),
            first["message"].as_str().unwrap_or("?")
        ));
    }
    if status != StatusCode::OK {
        return Err(format!("HTTP {status} without errors"));
    }
    let data = &value["data"];
    let ok = match &request.check {
        Check::User(id) => data["User"]["id"].as_str() == Some(id.as_str()),
        Check::List { rows, count } => {
            let list = data["allUsers"].as_array();
            list.is_some_and(|l| {
                l.len() == *rows
                    && l.iter()
                        .all(|u| u["roles"].as_array().is_some_and(|r| !r.is_empty()))
            }) && data["_allUsersMeta"]["count"].as_i64() == Some(*count)
        }
        Check::Updated(name) => data["updateUser"]["name"].as_str() == Some(name.as_str()),
        Check::Token => data["login"]["token"]
            .as_str()
            .is_some_and(|t| t.len() > 20),
    };
    if ok {
        Ok(())
    } else {
        let mut shown = data.to_string();
        shown.truncate(200);
        Err(format!("unexpected data: {shown}"))
    }
}

/// adminql, or the hand-written service, over GraphQL-over-HTTP: one keep-alive connection
/// per session.
pub struct Graphql {
    pub addr: SocketAddr,
    pub token: HeaderValue,
    pub data: Arc<Dataset>,
    pub scenario: Scenario,
    pub per_page: usize,
}

impl Graphql {
    /// Sends one request on `conn` and checks the answer.
    pub async fn send(
        &self,
        conn: &mut Connection,
        op: Op,
        rng: &mut fastrand::Rng,
    ) -> Result<(), String> {
        let request = request(op, &self.data, self.per_page, rng);
        let token = (op != Op::Login).then_some(&self.token);
        let (status, body) = conn.post("/graphql", token, request.body.clone()).await?;
        check(&request, status, &body)
    }
}

impl Client for Graphql {
    type Session = Connection;

    async fn open(&self) -> anyhow::Result<Connection> {
        Connection::open(self.addr).await
    }

    async fn call(&self, conn: &mut Connection, rng: &mut fastrand::Rng) -> Result<(), String> {
        if !conn.is_usable() {
            *conn = Connection::open(self.addr)
                .await
                .map_err(|e| format!("reconnect: {e}"))?;
        }
        let op = self.scenario.pick(rng);
        self.send(conn, op, rng).await
    }
}

/// Runs one GraphQL document outside the load (set-up: sign-in, creating the probe user).
pub async fn graphql(
    addr: SocketAddr,
    token: Option<&HeaderValue>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let mut conn = Connection::open(addr).await?;
    let body = json!({ "query": query, "variables": variables }).to_string();
    let (status, body) = conn
        .post("/graphql", token, Bytes::from(body))
        .await
        .map_err(anyhow::Error::msg)?;
    let value: Value = serde_json::from_slice(&body)?;
    if status != StatusCode::OK || value.get("errors").is_some_and(|e| !e.is_null()) {
        anyhow::bail!("{query}: HTTP {status}: {value}");
    }
    Ok(value["data"].clone())
}
