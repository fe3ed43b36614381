//! Property tests (bounded, deterministic per run) over what clients control: raw request
//! bodies, and the list arguments (page, perPage, sortField, sortOrder, filter values). The
//! server must answer every input with a well-formed refusal or result: no 5xx, no
//! `INTERNAL_SERVER_ERROR`, no dropped connection (what a panic would cause).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::support::TestApp;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn graphqlish() -> impl Strategy<Value = String> {
    prop_oneof![
        "[{}()\\[\\]:$!@.,a-zA-Z0-9_ \"\\n-]{0,120}",
        Just("{ allUsers { id } }".to_owned()),
        "(query|mutation|subscription|fragment) ?[A-Za-z]{0,8} ?\\{ ?[a-zA-Z_]{1,12}(\\([a-zA-Z]{1,8}: ?[0-9\"a-z]{1,6}\\))? ?(\\{ ?[a-z]{1,8} ?\\})? ?\\}",
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        "[{}\\[\\]\":,a-z0-9 ]{0,200}".prop_map(String::into_bytes),
        (
            graphqlish(),
            "[a-zA-Z0-9{}\":,]{0,40}",
            proptest::option::of("[A-Za-z]{0,10}")
        )
            .prop_map(|(q, vars, op)| {
                let vars: Value = serde_json::from_str(&vars).unwrap_or(Value::String(vars));
                json!({ "query": q, "variables": vars, "operationName": op })
                    .to_string()
                    .into_bytes()
            }),
    ]
}

#[test]
fn any_request_body_gets_a_well_formed_answer() {
    let rt = runtime();
    let app = rt.block_on(TestApp::sqlite().start());
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(body(), any::<bool>()), |(bytes, signed_in)| {
            rt.block_on(async {
                let mut req = app
                    .client
                    .post(app.url("/graphql"))
                    .header("content-type", "application/json")
                    .body(bytes);
                if signed_in {
                    req = req.bearer_auth(&app.admin_token);
                }
                let resp = req
                    .send()
                    .await
                    .map_err(|e| TestCaseError::fail(format!("no response: {e}")))?;
                let status = resp.status().as_u16();
                prop_assert!([200, 400, 401, 413].contains(&status), "status {}", status);
                let body: Value = resp
                    .json()
                    .await
                    .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
                prop_assert!(
                    !body.to_string().contains("INTERNAL_SERVER_ERROR"),
                    "{}",
                    body
                );
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn any_list_arguments_are_accepted_or_refused_cleanly() {
    let rt = runtime();
    let app = rt.block_on(TestApp::sqlite().start());
    let args = (
        any::<i32>(),
        any::<i32>(),
        proptest::option::of(".{0,24}"),
        proptest::option::of("(ASC|DESC|asc|[a-z]{0,6})"),
        proptest::option::of(".{0,30}"),
        proptest::option::of("[0-9T:Z -]{0,26}"),
        proptest::option::of(proptest::collection::vec("-?[0-9a-z]{0,6}", 0..5)),
    );
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&args, |(page, per_page, sort_field, sort_order, q, date, ids)| {
            rt.block_on(async {
                let variables = json!({
                    "p": page, "n": per_page, "s": sort_field, "o": sort_order,
                    "f": { "q": q, "createdAt_gte": date, "ids": ids },
                });
                let query = "query($p: Int, $n: Int, $s: String, $o: String, $f: UserFilter) {
                    allUsers(page: $p, perPage: $n, sortField: $s, sortOrder: $o, filter: $f) { id email roles { name } }
                    _allUsersMeta(filter: $f) { count } }";
                let body = app.gql(query, variables).await;
                if let Some(errors) = body["errors"].as_array() {
                    for error in errors {
                        let code = error["extensions"]["code"].as_str().unwrap_or_default();
                        prop_assert!(["BAD_USER_INPUT", "QUERY_TOO_COMPLEX"].contains(&code), "{}", body);
                    }
                } else {
                    prop_assert!(body["data"]["allUsers"].is_array(), "{}", body);
                }
                Ok(())
            })
        })
        .unwrap();
}
