//! The database cost of a request, counted on the servers (MariaDB `USER_STATISTICS` for the
//! test's own account on the primary and the replica): every statement earns its place.
//! One statement checks the caller (active, token version, permission codes); a point read
//! adds one, a page of users with their roles and its total two more at most; no ping per
//! pooled connection checkout.

use serde_json::{Value, json};

use crate::support::TestApp;

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
