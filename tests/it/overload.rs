//! Faults that must not cascade: a busy replica pool is not a broken replica (reads never
//! pile onto the primary), and the lag figures keep telling the truth while a replica falls
//! behind (the gauge and `systemStatus` rise past the limit, not stay at the last healthy
//! value).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::code;
use crate::support::mariadb::{Counts, cluster};
use crate::support::process::Process;
use crate::support::{JWT_SECRET, TestApp, sample};

const STATUS: &str = "{ systemStatus { replicas { name lagSeconds inRotation } } }";

/// 24 clients paging `allUsers` through pools of one connection that wait at most 30 ms: many
/// requests find no free connection. They fail with the retryable `SERVICE_UNAVAILABLE` as a
/// whole (HTTP 503, `Retry-After`, no data), each counted in `adminql_db_busy_total` of the
/// replica's pool; the replica stays in rotation and the primary serves no read.
#[tokio::test(flavor = "multi_thread")]
async fn a_busy_replica_pool_stays_in_rotation_and_spares_the_primary() {
    let app = TestApp::mysql()
        .env("DB_POOL_SIZE", "1")
        .env("DB_ACQUIRE_TIMEOUT", "30ms")
        .start()
        .await;
    let shared = cluster();
    let user = app.database.clone().unwrap();
    let primary_selects = shared.primary.selects(&user);
    // The recorder is the process's, and other tests' apps name their replica pool
    // `replica-0` too: they can only add to the counter, so it must grow by at least this
    // test's refusals.
    const BUSY: &str = r#"adminql_db_busy_total{pool="replica-0"}"#;
    let busy_before = sample(&app.metrics().await, BUSY).unwrap_or(0.0);

    let mut clients = Vec::new();
    for _ in 0..24 {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/graphql"),
            app.admin_token.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for page in 0..10 {
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({ "query": format!("{{ allUsers(page: {page}, perPage: 5) {{ id roles {{ name }} }} }}") }))
                    .send()
                    .await
                    .expect("response");
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().expect("ASCII").to_owned());
                let body: Value = response.json().await.expect("json");
                answers.push((status, retry_after, body));
            }
            answers
        }));
    }
    let mut answers = Vec::new();
    for client in clients {
        answers.extend(client.await.expect("client"));
    }
    let codes: Vec<&str> = answers.iter().map(|(_, _, body)| code(body)).collect();
    let busy = codes
        .iter()
        .filter(|c| **c == "SERVICE_UNAVAILABLE")
        .count();
    assert!(busy > 0, "the pool was saturated: {codes:?}");
    assert!(
        codes
            .iter()
            .all(|c| *c == "<none>" || *c == "SERVICE_UNAVAILABLE"),
        "a busy pool answers SERVICE_UNAVAILABLE, nothing else: {codes:?}"
    );
    for (status, retry_after, body) in &answers {
        if code(body) != "SERVICE_UNAVAILABLE" {
            assert_eq!(*status, 200, "{body}");
            continue;
        }
        // One root field, refused: the whole operation was, so HTTP says so.
        assert_eq!(*status, 503, "a refused operation is a 503: {body}");
        // A refusal before any field ran names no place in the document (positions start at
        // 1: line 0 would be invalid); one from a field points at it.
        let locations = &body["errors"][0]["locations"];
        assert!(
            locations.is_null() || locations[0]["line"].as_u64() >= Some(1),
            "{body}"
        );
        assert!(
            body["data"].is_null() || body["data"]["allUsers"].is_null(),
            "{body}"
        );
        let header = retry_after
            .as_deref()
            .unwrap_or_else(|| panic!("a 503 without Retry-After: {body}"));
        let seconds: u64 = header.parse().expect("Retry-After in seconds");
        assert!(seconds >= 1, "Retry-After: {header}");
        assert_eq!(
            body["errors"][0]["extensions"]["retryAfter"],
            json!(seconds),
            "the body and the header agree"
        );
    }
    let busy_after = sample(&app.metrics().await, BUSY).expect("the busy counter is exported");
    assert!(
        busy_after - busy_before >= busy as f64,
        "{busy} refusals, {BUSY} rose by {}",
        busy_after - busy_before
    );
    assert_eq!(
        shared.primary.selects(&user),
        primary_selects,
        "no read moved to the primary"
    );
    let status = app.gql(STATUS, json!({})).await;
    assert_eq!(
        status["data"]["systemStatus"]["replicas"][0]["inRotation"], true,
        "{status}"
    );
}

/// A pod (the real binary, so its `/metrics` are its own) watches a replica whose SQL thread
/// stops: the lag it reports keeps rising past `REPLICA_MAX_LAG`, and falls back after the
/// thread restarts.
#[tokio::test(flavor = "multi_thread")]
async fn lag_figures_rise_while_the_sql_thread_is_stopped() {
    let cluster = crate::support::private_cluster().await;
    let app = TestApp::mysql().cluster(cluster.clone()).start().await;
    let name = app.database.clone().unwrap();
    let (primary, replica) = (
        cluster.primary.url(&name, &name),
        cluster.replica.url(&name, &name),
    );
    let env = [
        ("DATABASE_URL", primary.as_str()),
        ("DATABASE_REPLICA_URLS", replica.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("REPLICA_CHECK_INTERVAL", "200ms"),
        ("REPLICA_MAX_LAG", "1s"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut pod = Process::spawn(dir.path(), &env, &["serve"]);
    let base = format!("http://{}", pod.wait_for_address(Duration::from_secs(30)));
    let observe = || {
        let (app, base) = (&app, &base);
        async move {
            let metrics = crate::support::metrics_at(base).await;
            let gauge = metrics
                .lines()
                .find(|l| l.starts_with("adminql_replica_lag_seconds{replica=\"replica-0\"}"))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok());
            let status: Value = app
                .client
                .post(format!("{base}/graphql"))
                .bearer_auth(&app.admin_token)
                .json(&json!({ "query": STATUS }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let replica = status["data"]["systemStatus"]["replicas"][0].clone();
            (gauge, replica)
        }
    };
    let wait = |what: &'static str, check: fn(Option<f64>, &Value) -> bool| {
        let observe = &observe;
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let (gauge, replica) = observe().await;
                if check(gauge, &replica) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "timed out waiting for {what}: gauge {gauge:?}, {replica}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait("a measured lag under the limit", |g, r| {
        g.is_some_and(|g| g < 1.0) && r["inRotation"] == true
    })
    .await;

    cluster.replica.sql("STOP SLAVE SQL_THREAD").unwrap();
    // Well past the limit: the figures keep rising after the replica left rotation.
    wait("the lag to rise past the limit", |g, r| {
        g.is_some_and(|g| g > 2.5)
            && r["lagSeconds"].as_f64().is_some_and(|l| l > 2.5)
            && r["inRotation"] == false
    })
    .await;

    cluster.replica.sql("START SLAVE SQL_THREAD").unwrap();
    wait("the lag to fall back and the replica to return", |g, r| {
        g.is_some_and(|g| g < 1.0)
            && r["lagSeconds"].as_f64().is_some_and(|l| l < 1.0)
            && r["inRotation"] == true
    })
    .await;
}
