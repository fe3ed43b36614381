//! Local reproductions of the Chaos Mesh experiments (manifests/chaos, docs/chaos.md) that no
//! other test covers: an adminql process cut off from the primary by a network partition
//! (packets dropped, connections hanging, not refused) turns read-only, keeps serving reads,
//! and writes again by itself once the partition heals.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::code;
use crate::support::gql_at;
use crate::support::process::Process;
use crate::support::proxy::FaultProxy;

/// The value of an unlabelled gauge in a Prometheus exposition.
fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn partitioned_primary_means_read_only_until_it_heals() {
    let cluster = crate::support::private_cluster().await;
    // Creates the database, the admin and a token the partitioned process accepts too.
    let app = TestApp::mysql().cluster(cluster.clone()).start().await;
    let name = app.database.clone().expect("database");
    let proxy = FaultProxy::start(cluster.primary.port).await;
    let primary = format!(
        "mysql://{name}:{}@127.0.0.1:{}/{name}",
        crate::support::mariadb::APP_PASSWORD,
        proxy.port
    );
    let replica = cluster.replica.url(&name, &name);
    let env = [
        ("DATABASE_URL", primary.as_str()),
        ("DATABASE_REPLICA_URLS", replica.as_str()),
        ("JWT_SECRET", crate::support::JWT_SECRET),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("REPLICA_CHECK_INTERVAL", "200ms"),
        ("DB_STATEMENT_TIMEOUT", "2s"),
        ("REPLICA_MAX_LAG", "60s"),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let mut pod = Process::spawn(dir.path(), &env, &["serve"]);
    let base = format!("http://{}", pod.wait_for_address(Duration::from_secs(30)));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    let me = app.gql("{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let post = |query: &'static str, variables: Value| {
        gql_at(&client, &base, Some(&app.admin_token), query, variables)
    };
    let rename = |n: &'static str| {
        post(
            "mutation($id: ID!, $n: String) { updateUser(id: $id, name: $n) { name } }",
            json!({ "id": me, "n": n }),
        )
    };
    let metrics = || crate::support::metrics_at(&base);
    let before = rename("Before").await;
    assert!(before["errors"].is_null(), "{before}");
    assert_eq!(gauge(&metrics().await, "adminql_read_only"), Some(0.0));

    proxy.hang();
    let cut = Instant::now();
    let mut seen = Vec::new();
    loop {
        let body = rename("During").await;
        let c = code(&body).to_owned();
        if c == "READ_ONLY_MODE" {
            break;
        }
        seen.push(c);
        assert!(
            cut.elapsed() < Duration::from_secs(30),
            "never read-only; answers: {seen:?}\n{}",
            pod.log
        );
    }
    let read_only_after = cut.elapsed();
    let read = post("{ me { id } }", json!({})).await;
    assert_eq!(read["data"]["me"]["id"], me, "reads go on: {read}");
    assert_eq!(gauge(&metrics().await, "adminql_read_only"), Some(1.0));

    proxy.forward();
    let healed = Instant::now();
    loop {
        let body = rename("After").await;
        if body["errors"].is_null() {
            assert_eq!(body["data"]["updateUser"]["name"], "After");
            break;
        }
        assert!(
            healed.elapsed() < Duration::from_secs(30),
            "writes did not resume: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "partition: read-only after {read_only_after:?} (answers before: {seen:?}), \
         writes again {:?} after healing",
        healed.elapsed()
    );
    assert_eq!(gauge(&metrics().await, "adminql_read_only"), Some(0.0));
}
