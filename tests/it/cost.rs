//! The database cost of a request, counted on the servers (MariaDB `USER_STATISTICS` for the
//! test's own account on the primary and the replica): every statement earns its place.
//! One statement checks the caller (active, token version, permission codes); a point read
//! adds one, a page of users with their roles and its total two more at most; no ping per
//! pooled connection checkout. And one pool checkout per request that runs one root field,
//! or several sharing one connection.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::gql_at;
use crate::support::mariadb::cluster;
use crate::support::process::Process;
use crate::support::{JWT_SECRET, TestApp, sum_of};

fn ok(body: Value) -> Value {
    assert!(body["errors"].is_null(), "{body}");
    body["data"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn statements_per_request_are_the_minimum() {
    // A slow monitor: its probes run as the app's user too and would count.
    let app = TestApp::mysql()
        .env("REPLICA_CHECK_INTERVAL", "1h")
        .start()
        .await;
    let statements = || app.statements();
    let me = ok(app.gql("{ me { id } }", json!({})).await)["me"]["id"].clone();
    for i in 0..30 {
        ok(app
            .gql(
                "mutation($e: String!) { createUser(email: $e, name: \"Cost\", password: \"a-long-password\", rolesIds: [\"1\"]) { id } }",
                json!({ "e": format!("cost{i}@example.com") }),
            )
            .await);
    }
    // Requests from a client that carries no consistency token (the test app's own client
    // keeps the cookie its mutations set, and a read with a token waits for it).
    let cost = |query: &'static str, variables: Value, headers: Vec<(&'static str, String)>| {
        let (app, statements) = (&app, &statements);
        async move {
            let body = json!({ "query": query, "variables": variables });
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let send = || app.post_fresh(Some(&app.admin_token), &headers, &body);
            // Warm-up: open the pools' connections (their set-up statements and prepares
            // would count too).
            for _ in 0..3 {
                ok(send().await);
            }
            let rounds = 10;
            let before = statements();
            for _ in 0..rounds {
                ok(send().await);
            }
            (statements() - before) as f64 / rounds as f64
        }
    };
    let point_query = "query($id: ID!) { User(id: $id) { id email name } }";

    let point = cost(point_query, json!({ "id": me }), vec![]).await;
    assert!(point <= 2.0, "User(id) took {point} statements per request");

    // With a consistency token the read waits for it once, however many statements follow.
    let written = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&app.admin_token)
        .json(&json!({ "query": "mutation($id: ID!) { updateUser(id: $id, name: \"Token\") { id } }", "variables": { "id": me } }))
        .send()
        .await
        .unwrap();
    let token = written.headers()["x-consistency-token"]
        .to_str()
        .unwrap()
        .to_owned();
    let waited = cost(
        point_query,
        json!({ "id": me }),
        vec![("x-consistency-token", token)],
    )
    .await;
    assert!(
        waited <= 3.0,
        "User(id) with a token took {waited} statements per request"
    );

    for per_page in [5, 20, 100] {
        let list = cost(
            "query($n: Int) { allUsers(perPage: $n, sortField: \"email\") { id email roles { name } } _allUsersMeta(perPage: $n) { count } }",
            json!({ "n": per_page }),
            vec![],
        )
        .await;
        assert!(
            list <= 4.0,
            "allUsers(perPage: {per_page}) {{ roles }} + _allUsersMeta took {list} statements per request"
        );
    }

    let update = cost(
        "mutation($id: ID!) { updateUser(id: $id, name: \"Renamed\") { id name } }",
        json!({ "id": me }),
        vec![],
    )
    .await;
    assert!(
        update <= 7.0,
        "updateUser(name) took {update} statements per request"
    );
}

/// Checkouts are counted by `adminql_db_acquire_seconds` (a histogram per pool): its
/// `_count` series, summed over the pools, must rise by exactly one per request. The app is
/// the real binary, so the counts are its own: in this process every test's app records into
/// one recorder, under the same pool names. Retention is off (its passes check out the
/// primary), and the replica monitor uses connections of its own.
#[tokio::test(flavor = "multi_thread")]
async fn one_checkout_per_request() {
    // Creates the database, the admin, and a token the pod accepts too.
    let app = TestApp::mysql()
        .env("REPLICA_CHECK_INTERVAL", "1h")
        .start()
        .await;
    let name = app.database.clone().unwrap();
    let shared = cluster();
    let (primary, replica) = (
        shared.primary.url(&name, &name),
        shared.replica.url(&name, &name),
    );
    let env = [
        ("DATABASE_URL", primary.as_str()),
        ("DATABASE_REPLICA_URLS", replica.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("REPLICA_MAX_LAG", "60s"),
        ("AUDIT_LOG_RETENTION", "0"),
        ("REFRESH_TOKEN_RETENTION", "0"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut pod = Process::spawn(dir.path(), &env, &["serve"]);
    let base = format!("http://{}", pod.wait_for_address(Duration::from_secs(30)));
    // No cookie jar: a consistency token would make a read wait for it, and fall back to the
    // primary (a second checkout) when the replica is late.
    let client = reqwest::Client::new();
    let checkouts = || {
        let base = &base;
        async move {
            let text = crate::support::metrics_at(base).await;
            sum_of(&text, "adminql_db_acquire_seconds_count")
        }
    };
    let me = app.gql("{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let send = |query: &'static str, variables: Value| {
        let (client, base, token) = (&client, &base, &app.admin_token);
        async move { ok(gql_at(client, base, Some(token), query, variables).await) }
    };
    let requests = [
        (
            "query($id: ID!) { User(id: $id) { id email name } }",
            json!({ "id": me }),
        ),
        (
            "query { allUsers(perPage: 20) { id roles { name } } _allUsersMeta(perPage: 20) { count } }",
            json!({}),
        ),
    ];
    // Warm-up: the pools hold their connections, the list's total is cached.
    for (query, variables) in &requests {
        for _ in 0..3 {
            send(query, variables.clone()).await;
        }
    }
    for (query, variables) in &requests {
        for _ in 0..3 {
            let before = checkouts().await;
            send(query, variables.clone()).await;
            let after = checkouts().await;
            assert_eq!(after - before, 1.0, "checkouts for {query}:\n{}", pod.log);
        }
    }
}
