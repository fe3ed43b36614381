//! Production hardening on the real server: abuse limits and GraphQL-over-HTTP refusals that
//! run no SQL, CSRF-proof content types, CORS, introspection policy, error hygiene, request
//! ids, metrics, and the graphql-http audit suite.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::code;

async fn post_json(app: &TestApp, body: Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&app.admin_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn abusive_requests_are_refused_before_any_sql() {
    // A slow monitor: its probes run as the app's user and would count as statements.
    let app = TestApp::mysql()
        .env("REPLICA_CHECK_INTERVAL", "1h")
        .start()
        .await;
    let statements = || app.statements();
    let before = statements();

    let deep = format!(
        "{{ me {} id {} }}",
        "{ roles { users ".repeat(20),
        " } }".repeat(20)
    );
    let (status, body) = post_json(&app, json!({ "query": deep })).await;
    assert_eq!(
        (status, code(&body)),
        (400, "QUERY_TOO_COMPLEX"),
        "depth 40: {body}"
    );

    let aliases: String = (0..500)
        .map(|i| format!("a{i}: allUsers {{ id }} "))
        .collect();
    let (status, body) = post_json(&app, json!({ "query": format!("{{ {aliases} }}") })).await;
    assert_eq!(
        (status, code(&body)),
        (400, "QUERY_TOO_COMPLEX"),
        "500 aliases: {body}"
    );

    let batch: Vec<Value> = (0..200)
        .map(|_| json!({ "query": "{ me { id } }" }))
        .collect();
    let (status, body) = post_json(&app, Value::Array(batch)).await;
    assert_eq!(
        (status, code(&body)),
        (400, "BAD_USER_INPUT"),
        "batch: {body}"
    );

    let (status, body) = post_json(&app, json!({ "query": "query($n: Int) { allUsers(perPage: $n) { id } }", "variables": { "n": 100000 } })).await;
    assert_eq!(
        (status, code(&body)),
        (400, "BAD_USER_INPUT"),
        "perPage: {body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["field"], "perPage");

    let huge = json!({ "query": format!("{{ me {{ id }} }} # {}", "x".repeat(3 * 1024 * 1024)) });
    // A client of its own: the server answers 413 without reading the rest of the body and
    // drops the connection, which the shared client's pool could otherwise hand to the next
    // request (a broken pipe there, now and then).
    let resp = reqwest::Client::new()
        .post(app.url("/graphql"))
        .bearer_auth(&app.admin_token)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413, "3 MiB body");
    let body: Value = resp.json().await.expect("a GraphQL error document");
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "body", "{body}");
    assert!(
        body["errors"][0]["extensions"]["requestId"].is_string(),
        "{body}"
    );

    let resp = app
        .client
        .get(app.url("/graphql"))
        .bearer_auth(&app.admin_token)
        .query(&[("query", "mutation { logout(refreshToken: \"x\") }")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405, "GET mutation");
    assert_eq!(resp.headers()["allow"], "POST");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    // axum routes HEAD to the GET handler: it is read like a GET, so no mutation runs there.
    let resp = app
        .client
        .head(app.url("/graphql"))
        .bearer_auth(&app.admin_token)
        .query(&[("query", "mutation { logout(refreshToken: \"x\") }")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405, "HEAD mutation");

    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let resp = app
            .post_raw(
                r#"{"query":"mutation { logout(refreshToken: \"x\") }"}"#,
                &[
                    ("content-type", content_type),
                    ("authorization", &format!("Bearer {}", app.admin_token)),
                ],
            )
            .await;
        assert_eq!(resp.status(), 415, "{content_type} must be refused (CSRF)");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["field"], "Content-Type",
            "{body}"
        );
    }
    for (sent, field) in [
        ("{not json", "body"),
        (r#"{"variables":{}}"#, "query"),
        (r#"{"query":"{ __typename }","variables":[1]}"#, "variables"),
    ] {
        let resp = app
            .post_raw(sent, &[("content-type", "application/json")])
            .await;
        assert_eq!(resp.status(), 400, "{sent}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let resp = app
        .post_raw(
            r#"{"query":"{ __typename }"}"#,
            &[
                ("content-type", "application/json"),
                ("accept", "text/html"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 406);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["field"], "Accept", "{body}");

    assert_eq!(statements(), before, "refused requests ran SQL");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_leak_nothing_and_carry_the_request_id() {
    let app = TestApp::mysql().start().await;
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&app.admin_token)
        .header("x-request-id", "my-request-42")
        .json(&json!({ "query": "{ allUsers(filter: { nope: 1 }) { id nope } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "my-request-42");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["requestId"],
        "my-request-42"
    );
    let text = body.to_string();
    for leak in ["SELECT", "src/", ".rs:", "diesel", "mysql"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
    assert!(
        body.get("data").is_none(),
        "a validation failure has no data entry: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_is_for_admins_in_production() {
    let app = TestApp::mysql().start().await;
    let query = json!({ "query": "{ __schema { queryType { name } } }" });
    let anonymous = app.post_fresh(None, &[], &query).await;
    assert!(
        anonymous["errors"].is_array(),
        "anonymous introspection refused: {anonymous}"
    );
    let (_, admin) = post_json(&app, query).await;
    assert_eq!(admin["data"]["__schema"]["queryType"]["name"], "Query");

    let typo = app
        .post_fresh(None, &[], &json!({ "query": "{ allUser { id } }" }))
        .await;
    assert!(
        !typo.to_string().contains("Did you mean"),
        "no suggestions for anonymous clients: {typo}"
    );

    let open = TestApp::sqlite().start().await;
    let anonymous = open
        .post_fresh(
            None,
            &[],
            &json!({ "query": "{ __schema { queryType { name } } }" }),
        )
        .await;
    assert_eq!(
        anonymous["data"]["__schema"]["queryType"]["name"], "Query",
        "the embedded default allows it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_allows_only_configured_origins() {
    let app = TestApp::sqlite()
        .env("CORS_ALLOWED_ORIGINS", "https://admin.example.com")
        .start()
        .await;
    for (origin, allowed) in [
        ("https://admin.example.com", true),
        ("https://evil.example.com", false),
    ] {
        let resp = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        let header = resp
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            header.as_deref() == Some(origin),
            allowed,
            "{origin}: {header:?}"
        );
    }
    let closed = TestApp::sqlite().start().await;
    let resp = closed
        .client
        .post(closed.url("/graphql"))
        .header("origin", "https://admin.example.com")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers().get("access-control-allow-origin").is_none(),
        "no CORS by default"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_expose_the_operator_families() {
    let app = TestApp::mysql().start().await;
    post_json(&app, json!({ "query": "{ allUsers { id } }" })).await;
    post_json(&app, json!({ "query": "query Named { me { id } }" })).await;
    post_json(
        &app,
        json!({ "query": "{ allUsers(sortField: \"x\") { id } }" }),
    )
    .await;
    let text = app.metrics().await;
    for family in [
        "adminql_http_requests_total",
        "adminql_http_request_duration_seconds_bucket",
        "adminql_graphql_operations_total",
        "adminql_graphql_operation_duration_seconds",
        "adminql_graphql_errors_total",
        "adminql_auth_tokens_total",
        "adminql_db_reads_total",
        "adminql_db_acquire_seconds",
        "adminql_db_pool_connections",
        "adminql_db_pool_in_use",
        "adminql_replica_in_rotation",
        "adminql_read_only",
    ] {
        assert!(text.contains(family), "{family} missing from /metrics");
    }
    assert!(
        text.contains("operation=\"Named\""),
        "operations are labelled by name"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn graphql_http_audit_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/graphql-http");
    assert!(
        dir.join("node_modules/graphql-http").is_dir(),
        "tests/graphql-http/node_modules is missing: run scripts/test (it runs npm install there)"
    );
    let app = TestApp::sqlite().start().await;
    let out = tokio::process::Command::new("node")
        .arg("audit.mjs")
        .current_dir(&dir)
        .env("ADMINQL_URL", &app.base)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "graphql-http audit failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 failures, 0 warnings"), "{stdout}");
}
