//! Test support: real MariaDB (see `mariadb`), a fresh database per test, and the real
//! router served on a free loopback port, reached over HTTP with reqwest.

#![allow(dead_code)] // each test module uses a different part of the support code

pub mod mariadb;
pub mod process;
pub mod proxy;
pub mod sql;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use adminql::config::Config;
use adminql::db::migrate;
use adminql::{AppState, build_app, http};
use serde_json::{Value, json};

use mariadb::Counts;

pub const JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789";
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-123";

static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// MariaDB primary plus one replica.
    Mysql,
}

/// A running adminql on its own fresh database.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    /// MariaDB database name, also the name of the MariaDB user the app connects as
    /// (None on SQLite).
    pub database: Option<String>,
    /// An access token of the bootstrap admin.
    pub admin_token: String,
    /// Keeps a private cluster's servers running as long as the app.
    _cluster: Option<Arc<mariadb::Cluster>>,
    _dir: Option<tempfile::TempDir>,
}

pub struct Builder {
    backend: Backend,
    replicas: usize,
    vars: HashMap<String, String>,
    cluster: Option<Arc<mariadb::Cluster>>,
    replica_urls: Option<Vec<String>>,
    existing_database: Option<String>,
    primary_url: Option<String>,
}

impl TestApp {
    pub fn sqlite() -> Builder {
        Builder::new(Backend::Sqlite)
    }

    pub fn mysql() -> Builder {
        Builder::new(Backend::Mysql)
    }

    pub fn on(backend: Backend) -> Builder {
        Builder::new(backend)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Statements the app's own MariaDB account has run on the shared cluster's primary and
    /// replica (`USER_STATISTICS`).
    pub fn statements(&self) -> u64 {
        let user = self.database.as_deref().expect("a MariaDB app");
        let cluster = mariadb::cluster();
        cluster.primary.statements(user) + cluster.replica.statements(user)
    }

    /// The app's `/metrics` exposition.
    pub async fn metrics(&self) -> String {
        metrics_at(&self.url("")).await
    }

    /// POSTs a GraphQL document as the bootstrap admin; returns the whole JSON response.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_with(query, variables, Some(&self.admin_token))
            .await
    }

    /// POSTs a GraphQL document without a token.
    pub async fn gql_anon(&self, query: &str, variables: Value) -> Value {
        self.gql_with(query, variables, None).await
    }

    /// Signs in; panics unless it works. Returns the whole `AuthPayload`.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let body = self
            .gql_anon(
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token refreshToken expiresAt user { id email } } }",
                json!({ "e": email, "p": password }),
            )
            .await;
        assert!(body["errors"].is_null(), "login failed: {body}");
        body["data"]["login"].clone()
    }

    /// Creates a user with the given roles (by name) through the API; returns (id, token).
    pub async fn user_with_roles(&self, email: &str, roles: &[&str]) -> (String, String) {
        let mut role_ids = Vec::new();
        for role in roles {
            let body = self
                .gql(
                    "query($n: String) { allRoles(filter: { name: $n }) { id } }",
                    json!({ "n": role }),
                )
                .await;
            role_ids.push(body["data"]["allRoles"][0]["id"].clone());
        }
        let body = self
            .gql(
                "mutation($e: String!, $r: [ID!]) { createUser(email: $e, name: \"Test\", password: \"password-1234\", rolesIds: $r) { id } }",
                json!({ "e": email, "r": role_ids }),
            )
            .await;
        assert!(body["errors"].is_null(), "createUser failed: {body}");
        let id = body["data"]["createUser"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let token = self.login(email, "password-1234").await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, token)
    }

    /// POSTs `body` from a fresh client that keeps no cookies (unlike `self.client`, which
    /// carries the consistency cookie like a browser); returns the JSON response.
    pub async fn post_fresh(
        &self,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Value {
        let mut req = reqwest::Client::new().post(self.url("/graphql")).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
            .await
            .expect("request reaches the server")
            .json()
            .await
            .expect("a JSON body")
    }

    /// Sends a raw request body with the given content type and headers.
    pub async fn post_raw(
        &self,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url("/graphql")).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request reaches the server")
    }

    /// Waits until every replica has applied what the primary had written when this was
    /// called: how a test reads back a write that handed it no consistency token (an audit
    /// row a refused query wrote, say). Nothing to wait for on SQLite.
    pub async fn replicas_caught_up(&self) {
        if self.database.is_none() {
            return;
        }
        let cluster = self._cluster.clone().unwrap_or_else(mariadb::cluster);
        tokio::task::spawn_blocking(move || cluster.wait_for_replicas(Duration::from_secs(30)))
            .await
            .expect("join")
            .expect("replicas catch up");
    }

    pub async fn gql_with(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut req = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request reaches the server");
        resp.json().await.expect("a JSON body")
    }
}

impl Builder {
    fn new(backend: Backend) -> Self {
        Builder {
            backend,
            replicas: 1,
            vars: HashMap::new(),
            cluster: None,
            replica_urls: None,
            existing_database: None,
            primary_url: None,
        }
    }

    /// Sets an environment variable for the app's config.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.vars.insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = n;
        self
    }

    /// Runs on `cluster` (a private one) instead of the shared cluster.
    pub fn cluster(mut self, cluster: Arc<mariadb::Cluster>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Uses a database (and its same-named user) that already exists, e.g. a restored backup.
    pub fn existing_database(mut self, name: &str) -> Self {
        self.existing_database = Some(name.to_owned());
        self
    }

    /// Replica URLs given by the test (e.g. through a fault proxy); `{db}` is replaced with
    /// the test's database (and user) name.
    pub fn replica_urls(mut self, urls: Vec<String>) -> Self {
        self.replica_urls = Some(urls);
        self
    }

    /// The primary URL given by the test (e.g. through a proxy standing for a Service);
    /// `{db}` is replaced with the test's database (and user) name.
    pub fn primary_url(mut self, url: &str) -> Self {
        self.primary_url = Some(url.to_owned());
        self
    }

    pub async fn start(self) -> TestApp {
        // Warnings (replica transitions, fallbacks) show up in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .with_test_writer()
            .try_init();
        let mut vars = self.vars;
        vars.entry("JWT_SECRET".into()).or_insert(JWT_SECRET.into());
        vars.entry("ADMIN_EMAIL".into())
            .or_insert(ADMIN_EMAIL.into());
        vars.entry("ADMIN_PASSWORD".into())
            .or_insert(ADMIN_PASSWORD.into());
        // The shared replica applies every test's DDL and can fall seconds behind under a
        // parallel test run; routing tests on private clusters set their own limit.
        vars.entry("REPLICA_MAX_LAG".into()).or_insert("60s".into());
        vars.entry("LISTEN_ADDR".into())
            .or_insert("127.0.0.1:0".into());
        let (dir, database) = match self.backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                vars.insert(
                    "DATABASE_URL".into(),
                    format!("sqlite://{}", dir.path().join("adminql.db").display()),
                );
                (Some(dir), None)
            }
            Backend::Mysql => {
                let cluster = match &self.cluster {
                    Some(cluster) => cluster.clone(),
                    None => tokio::task::spawn_blocking(mariadb::cluster)
                        .await
                        .expect("cluster start"),
                };
                let name = format!(
                    "t{}_{}",
                    std::process::id(),
                    NEXT_DB.fetch_add(1, Ordering::Relaxed)
                );
                let name = self.existing_database.clone().unwrap_or(name);
                if self.existing_database.is_none() {
                    cluster
                        .primary
                        .create_app_database(&name)
                        .expect("create database");
                }
                let primary = match &self.primary_url {
                    Some(url) => url.replace("{db}", &name),
                    None => cluster.primary.url(&name, &name),
                };
                vars.insert("DATABASE_URL".into(), primary);
                let replicas: Vec<String> = match &self.replica_urls {
                    Some(urls) => urls.iter().map(|u| u.replace("{db}", &name)).collect(),
                    None => [&cluster.replica, &cluster.replica2]
                        .iter()
                        .take(self.replicas)
                        .map(|r| r.url(&name, &name))
                        .collect(),
                };
                vars.insert("DATABASE_REPLICA_URLS".into(), replicas.join(","));
                (None, Some(name))
            }
        };
        let config = Config::from_lookup(move |k| vars.get(k).cloned()).expect("valid test config");
        migrate::run(&config.database)
            .await
            .expect("migrations apply");
        // The replicas must have the new database (and its user) before the app's monitor
        // probes them.
        if self.backend == Backend::Mysql {
            let cluster = self.cluster.clone();
            tokio::task::spawn_blocking(move || {
                cluster
                    .unwrap_or_else(mariadb::cluster)
                    .wait_for_replicas(Duration::from_secs(30))
            })
            .await
            .expect("join")
            .expect("replicas catch up");
        }
        let app = build_app(config).await.expect("app builds");
        adminql::user::bootstrap::ensure_admin(&app.state.db, &app.state.config)
            .await
            .expect("bootstrap admin");
        if let Some(cluster) = self
            .cluster
            .clone()
            .or_else(|| (self.backend == Backend::Mysql).then(mariadb::cluster))
        {
            tokio::task::spawn_blocking(move || cluster.wait_for_replicas(Duration::from_secs(30)))
                .await
                .expect("join")
                .expect("replicas have the admin");
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let router = app.router;
        tokio::spawn(http::serve(
            listener,
            router,
            std::future::pending(),
            Duration::from_secs(1),
        ));
        let mut app = TestApp {
            base,
            // The cookie store carries the consistency cookie like a browser, so a test reads
            // its own writes even when the replica lags.
            client: reqwest::Client::builder()
                .cookie_store(true)
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            state: app.state,
            database,
            admin_token: String::new(),
            _cluster: self.cluster.clone(),
            _dir: dir,
        };
        let admin_email = app
            .state
            .config
            .auth
            .admin_email
            .clone()
            .unwrap_or_default();
        let login = app.login(&admin_email, ADMIN_PASSWORD).await;
        app.admin_token = login["token"].as_str().expect("token").to_owned();
        app
    }
}

/// Polls `condition` every 20 ms until it holds; panics naming `what` after `timeout`. It
/// runs on a blocking thread, so it may ask a server through the `mariadb` client.
pub async fn wait_until(
    what: &'static str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool + Send + 'static,
) {
    let waited = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + timeout;
        while !condition() {
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: not after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await;
    if let Err(e) = waited {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A statistics query that fails fails the test instead of counting 0, so no assertion on
/// a count (statements per request, "no SQL ran") can pass on a broken query.
#[test]
#[should_panic(expected = "USER_STATISTICS")]
fn statistics_that_cannot_be_read_fail_the_test() {
    // The quote breaks the statement the count runs.
    mariadb::cluster().primary.statements("no'such");
}

/// POSTs a GraphQL request to the server at `base` (`http://host:port`, an app of this
/// process or an adminql child process) with `client`; the response body.
pub async fn gql_at(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = client
        .post(format!("{}/graphql", base.trim_end_matches('/')))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .expect("adminql answers")
        .json()
        .await
        .expect("a JSON body")
}

/// The `extensions.code` of a response's first error, `<none>` when it has none.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

/// The `/metrics` exposition of the server at `base` (`http://host:port`): an app of this
/// process or an adminql child process. A fresh client (no cookie goes along) that gives up
/// after 30 s, so a hung scrape fails the test instead of hanging the run.
pub async fn metrics_at(base: &str) -> String {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
        .get(format!("{}/metrics", base.trim_end_matches('/')))
        .send()
        .await
        .expect("request reaches the server")
        .text()
        .await
        .expect("a text body")
}

/// The value of one series in a Prometheus exposition, named with its labels as rendered
/// (`adminql_db_busy_total{pool="replica-0"}`); None when it is not there.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The sum of every series of `name` (whatever their labels) in a Prometheus exposition.
pub fn sum_of(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let value = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?.1,
                None => rest.strip_prefix(' ')?,
            };
            value.trim().parse::<f64>().ok()
        })
        .sum()
}

/// A MariaDB cluster of the test's own, for tests that kill, stop or break servers.
pub async fn private_cluster() -> Arc<mariadb::Cluster> {
    Arc::new(
        tokio::task::spawn_blocking(mariadb::Cluster::private)
            .await
            .expect("cluster"),
    )
}
