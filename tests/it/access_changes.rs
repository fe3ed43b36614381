//! Changes to what a user may do apply on their next request, on real MariaDB: a role's
//! permissions taken away and given back (the auth check reads the permission codes on every
//! request, from the server the request reads), and a bumped `token_version` (password change,
//! deactivation) that refuses the next mutation at once, since a mutation's auth check reads
//! the primary, whatever the replicas have applied.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::code;

const LIST: &str = "{ allUsers { id } }";

/// POSTs a document from a client of its own (no cookie: no consistency token unless given
/// in `token_header`); returns the status and the body.
async fn post(
    app: &TestApp,
    bearer: &str,
    token_header: Option<&str>,
    query: &str,
    variables: Value,
) -> (StatusCode, Value, Option<String>) {
    let mut request = reqwest::Client::new()
        .post(app.url("/graphql"))
        .bearer_auth(bearer)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token_header {
        request = request.header("x-consistency-token", token);
    }
    let response = request.send().await.expect("adminql answers");
    let status = response.status();
    let consistency = response
        .headers()
        .get("x-consistency-token")
        .map(|v| v.to_str().expect("ASCII").to_owned());
    (status, response.json().await.expect("JSON"), consistency)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_roles_permission_change_applies_on_the_next_request() {
    let app = TestApp::mysql().start().await;
    let read = app
        .gql(
            "{ allPermissions(filter: { code: \"user:read\" }) { id } }",
            json!({}),
        )
        .await["data"]["allPermissions"][0]["id"]
        .clone();
    assert!(read.is_string(), "user:read exists");
    let role = app
        .gql(
            "mutation($p: [ID!]) { createRole(name: \"listers\", permissionsIds: $p) { id } }",
            json!({ "p": [read] }),
        )
        .await["data"]["createRole"]["id"]
        .clone();
    assert!(role.is_string(), "the role was created");
    let (_, token) = app
        .user_with_roles("lister@example.com", &["listers"])
        .await;
    let grant = |permissions: Value| {
        let (app, role) = (&app, role.clone());
        async move {
            let (status, body, consistency) = post(
                app,
                &app.admin_token,
                None,
                "mutation($id: ID!, $p: [ID!]) { updateRole(id: $id, permissionsIds: $p) { id } }",
                json!({ "id": role, "p": permissions }),
            )
            .await;
            assert!(body["errors"].is_null() && status == 200, "{body}");
            consistency.expect("a mutation hands out its consistency token")
        }
    };

    app.replicas_caught_up().await;
    let (status, allowed, _) = post(&app, &token, None, LIST, json!({})).await;
    assert!(allowed["errors"].is_null(), "{allowed}");
    assert_eq!(status, 200);

    // Taken away: the next request, read where the change is (its consistency token), is
    // refused with the same access token.
    let change = grant(json!([])).await;
    let (_, refused, _) = post(&app, &token, Some(&change), LIST, json!({})).await;
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");

    // Given back: once the replicas have it, a request without a token reads the replica,
    // and is allowed again.
    grant(json!([read])).await;
    app.replicas_caught_up().await;
    let (status, allowed, _) = post(&app, &token, None, LIST, json!({})).await;
    assert!(allowed["errors"].is_null(), "{allowed}");
    assert_eq!(status, 200);
}

/// The replica's SQL thread is stopped, so it keeps the users as they were: a query with an
/// old access token and no consistency token is still answered there (within
/// `REPLICA_MAX_LAG`), while a mutation with it is refused at once, from the primary.
#[tokio::test(flavor = "multi_thread")]
async fn a_bumped_token_version_refuses_the_next_mutation_at_once() {
    let cluster = crate::support::private_cluster().await;
    let app = TestApp::mysql().cluster(cluster.clone()).start().await;
    let (ruth, ruth_token) = app.user_with_roles("ruth@example.com", &[]).await;
    let (sam, sam_token) = app.user_with_roles("sam@example.com", &[]).await;
    app.replicas_caught_up().await;
    cluster.replica.sql("STOP SLAVE SQL_THREAD").unwrap();

    let change_password = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { token } }";
    let (status, changed, _) = post(
        &app,
        &ruth_token,
        None,
        change_password,
        json!({ "c": "password-1234", "n": "a-new-password-99" }),
    )
    .await;
    assert!(changed["errors"].is_null() && status == 200, "{changed}");
    let (status, refused, _) = post(
        &app,
        &ruth_token,
        None,
        change_password,
        json!({ "c": "a-new-password-99", "n": "yet-another-password-1" }),
    )
    .await;
    assert_eq!(code(&refused), "UNAUTHENTICATED", "{refused}");
    assert_eq!(status, 401);
    // The contrast that shows where the refusal came from: the stopped replica still has
    // the old token version.
    let (_, stale, _) = post(&app, &ruth_token, None, "{ me { id } }", json!({})).await;
    assert_eq!(stale["data"]["me"]["id"], json!(ruth), "{stale}");

    let (status, deactivated, _) = post(
        &app,
        &app.admin_token,
        None,
        "mutation($id: ID!) { updateUser(id: $id, active: false) { active } }",
        json!({ "id": sam }),
    )
    .await;
    assert_eq!(
        deactivated["data"]["updateUser"]["active"], false,
        "{deactivated}"
    );
    assert_eq!(status, 200);
    let (status, refused, _) = post(
        &app,
        &sam_token,
        None,
        change_password,
        json!({ "c": "password-1234", "n": "a-new-password-99" }),
    )
    .await;
    assert_eq!(code(&refused), "UNAUTHENTICATED", "{refused}");
    assert_eq!(status, 401);
}
