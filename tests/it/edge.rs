//! The edge on the real server: bounded metric labels under a flood of operation names,
//! refusals that speak HTTP (429, 503 with `Retry-After`, a GraphQL-shaped timeout), the
//! client IP behind trusted proxies, and the availability SLI when the databases die.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::TestApp;
use crate::support::code;

/// The sum of every sample whose line starts with `series` (a name and the start of its
/// labels, e.g. `adminql_http_server_errors_total{route="/graphql"`).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_operation_names_leaves_metrics_bounded() {
    let app = TestApp::sqlite().start().await;
    let before = app.metrics().await.len();
    let client = reqwest::Client::new();
    let url = app.url("/graphql");
    let sent = futures_util::stream::iter(0..10_000)
        .map(|i| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let name = format!("Flood{i}");
                let body = json!({ "query": format!("query {name} {{ __typename }}"), "operationName": name });
                client.post(&url).json(&body).send().await.map(|r| r.status())
            }
        })
        .buffer_unordered(16)
        .filter(|status| std::future::ready(matches!(status, Ok(s) if s.is_success())))
        .count()
        .await;
    assert_eq!(sent, 10_000, "every request answered 200");
    // The other labels a client touches: made-up methods and paths.
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("FLOOD{i}").as_bytes()).unwrap();
        client.request(method, &url).send().await.unwrap();
        client
            .get(app.url(&format!("/made-up-{i}")))
            .send()
            .await
            .unwrap();
    }
    let text = app.metrics().await;
    assert!(
        !text.contains("FLOOD") && !text.contains("made-up"),
        "methods and paths label as other/unmatched"
    );
    assert!(
        text.contains(
            r#"adminql_http_requests_total{route="unmatched",method="GET",status="404"}"#
        )
    );
    assert!(text.contains(r#"route="/graphql",method="other""#));
    let flood_series = text
        .lines()
        .filter(|l| l.contains("operation=\"Flood"))
        .count();
    // Per admitted name: one counter and a histogram of 16 lines. The flood is anonymous, so
    // it gets only the anonymous share of the names.
    let cap = adminql::http::labels::MAX_ANONYMOUS_NAMES;
    assert!(
        flood_series <= cap * 17,
        "{flood_series} series carry a flood name"
    );
    assert!(
        sample(
            &text,
            "adminql_graphql_operations_total{operation=\"other\",result=\"ok\""
        ) >= (10_000 - cap) as f64,
        "later names count as other"
    );
    let grown = text.len().saturating_sub(before);
    // Unbounded, 10,000 names were ~17 MB; a name with its histogram is ~2.5 KB, and the
    // flood is admitted only the anonymous share of names.
    assert!(grown < 256 * 1024, "/metrics grew by {grown} bytes");
    // The names a signed-in client uses still label as themselves after the flood.
    let body = app
        .gql("query AfterTheFlood { me { id } }", json!({}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let text = app.metrics().await;
    assert!(
        text.contains(
            r#"adminql_graphql_operations_total{operation="AfterTheFlood",result="ok"} 1"#
        ),
        "a signed-in client's name was not admitted after an anonymous flood"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_login_is_429_and_a_spoofed_forwarded_for_moves_no_bucket() {
    let app = TestApp::sqlite()
        .env("TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8")
        .env("LOGIN_RATE_LIMIT_PER_IP", "2")
        .start()
        .await;
    let attempt = |n: usize, forwarded: String| {
        let app = &app;
        async move {
            let body = json!({
                "query": "mutation($e: String!) { login(email: $e, password: \"wrong-password\") { token } }",
                "variables": { "e": format!("nobody{n}@example.com") },
            });
            let resp = reqwest::Client::new()
                .post(app.url("/graphql"))
                .header("x-forwarded-for", forwarded)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let retry = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, retry, resp.json::<Value>().await.unwrap())
        }
    };
    // The left-most entry is the client's to write; the ingress (10.x) appends the real one.
    for n in 0..2 {
        let (_, _, body) = attempt(n, format!("198.51.100.{n}, 203.0.113.7, 10.1.1.1")).await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    }
    let (status, retry, body) = attempt(2, "198.51.100.99, 203.0.113.7, 10.1.1.1".into()).await;
    assert_eq!(
        code(&body),
        "RATE_LIMITED",
        "a new left-most entry is the same client: {body}"
    );
    assert_eq!(status, 429, "{body}");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!(retry >= 1, "Retry-After: {retry}");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], retry);

    let (status, _, body) = attempt(3, "198.51.100.0, 203.0.113.8, 10.1.1.1".into()).await;
    assert_eq!(
        (status, code(&body)),
        (200, "UNAUTHENTICATED"),
        "another real client has a bucket of its own: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_connection_in_time_is_503_and_a_server_error() {
    let app = TestApp::sqlite()
        .env("DB_ACQUIRE_TIMEOUT", "200ms")
        .start()
        .await;
    let me = app.gql("{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let before = app.metrics().await;
    // SQLite has one write connection: holding it leaves a mutation none.
    let held = app.state.db.write().await.unwrap();
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&app.admin_token)
        .json(&json!({
            "query": "mutation Busy($id: ID!) { updateUser(id: $id, name: \"x\") { id } }",
            "variables": { "id": me },
        }))
        .send()
        .await
        .unwrap();
    drop(held);
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "SERVICE_UNAVAILABLE", "{body}");
    assert!(body["errors"][0]["extensions"]["requestId"].is_string());
    let after = app.metrics().await;
    let errors = r#"adminql_http_server_errors_total{route="/graphql"}"#;
    assert!(
        sample(&after, errors) > sample(&before, errors),
        "counted for the SLI"
    );
    assert!(
        after.contains(
            r#"adminql_graphql_operations_total{operation="Busy",result="server_error"}"#
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_past_the_timeout_gets_a_graphql_503() {
    let app = TestApp::sqlite()
        .env("HTTP_REQUEST_TIMEOUT", "3s")
        .start()
        .await;
    let before = sample(
        &app.metrics().await,
        r#"adminql_http_server_errors_total{route="/graphql"}"#,
    );
    // Half a body: the handler waits for the rest until the timeout answers.
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nhost: t\r\nx-request-id: slow-7\r\ncontent-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{\"query\":",
        )
        .await
        .unwrap();
    // The server closes the connection after its answer: the request body was never read.
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response))
        .await
        .expect("an answer, then the connection closes")
        .unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(code(&body), "SERVICE_UNAVAILABLE", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["requestId"], "slow-7");
    let after = sample(
        &app.metrics().await,
        r#"adminql_http_server_errors_total{route="/graphql"}"#,
    );
    assert!(after > before, "the timeout is a server error for the SLI");
}

/// The availability SLI sees an outage that answers HTTP 200: with every database killed,
/// reads fail with `INTERNAL_SERVER_ERROR` inside a 200, and each counts as a server error.
#[tokio::test(flavor = "multi_thread")]
async fn killed_databases_show_as_server_errors() {
    let cluster = crate::support::private_cluster().await;
    let app = TestApp::mysql()
        .cluster(cluster.clone())
        .env("REPLICA_CHECK_INTERVAL", "200ms")
        .env("DB_STATEMENT_TIMEOUT", "2s")
        .start()
        .await;
    let query = json!({ "query": "query SliProbe { allUsers { id } }" });
    let (_, body) = post(&app, &query).await;
    assert!(body["errors"].is_null(), "healthy first: {body}");
    let series = r#"adminql_http_server_errors_total{route="/graphql"}"#;
    let before = sample(&app.metrics().await, series);

    let c = cluster.clone();
    tokio::task::spawn_blocking(move || {
        c.primary.kill();
        c.replica.kill();
        c.replica2.kill();
    })
    .await
    .unwrap();
    let mut failed = 0;
    for _ in 0..5 {
        let (status, body) = post(&app, &query).await;
        assert!(status == 200 || status >= 500, "{status}: {body}");
        assert!(
            adminql::error::is_server_error_code(code(&body)),
            "a server-side code: {body}"
        );
        failed += 1;
    }
    let text = app.metrics().await;
    assert!(
        sample(&text, series) - before >= failed as f64,
        "{failed} failed requests, SLI counter moved by {}",
        sample(&text, series) - before
    );
    assert!(
        sample(
            &text,
            r#"adminql_graphql_operations_total{operation="SliProbe",result="server_error"}"#
        ) >= failed as f64,
        "{text}"
    );
}

async fn post(app: &TestApp, body: &Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&app.admin_token)
        .json(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}
