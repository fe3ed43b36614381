//! Replica-aware routing on real MariaDB: queries on replicas and mutations on the primary
//! (counted on the servers), read-your-writes with consistency tokens under replication lag,
//! and survival of a killed replica, a hung replica and a killed primary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::code;
use crate::support::mariadb::{Cluster, Counts, cluster};
use crate::support::process::Process;
use crate::support::proxy::FaultProxy;
use crate::support::{ADMIN_EMAIL, TestApp};

const FAST_MONITOR: [(&str, &str); 3] = [
    ("REPLICA_CHECK_INTERVAL", "200ms"),
    ("REPLICA_MAX_LAG", "4s"),
    ("DB_STATEMENT_TIMEOUT", "2s"),
];

fn fast(builder: crate::support::Builder) -> crate::support::Builder {
    FAST_MONITOR.iter().fold(builder, |b, (k, v)| b.env(k, v))
}

async fn status(app: &TestApp) -> Value {
    app.gql("{ systemStatus { readOnly primary { healthy } replicas { name healthy lagSeconds inRotation } } }", json!({}))
        .await["data"]["systemStatus"]
        .clone()
}

/// Polls `systemStatus` until `check` holds (or panics after `limit`).
async fn wait_for_status(
    app: &TestApp,
    limit: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool,
) {
    let deadline = Instant::now() + limit;
    loop {
        let s = status(app).await;
        if check(&s) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An app with a fast replica monitor on a cluster of its own, which the test may break.
async fn private_app() -> (Arc<Cluster>, TestApp) {
    let cluster = crate::support::private_cluster().await;
    let app = fast(TestApp::mysql().cluster(cluster.clone()))
        .start()
        .await;
    (cluster, app)
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_run_on_the_replica_and_mutations_on_the_primary() {
    let app = TestApp::mysql().start().await;
    let cluster = cluster();
    let user = app.database.clone().unwrap();
    let (p_sel, r_sel) = (
        cluster.primary.selects(&user),
        cluster.replica.selects(&user),
    );
    for _ in 0..100 {
        let body = app
            .gql("{ allPermissions(perPage: 1) { id } }", json!({}))
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    assert_eq!(
        cluster.primary.selects(&user),
        p_sel,
        "no query read the primary"
    );
    assert!(
        cluster.replica.selects(&user) >= r_sel + 100,
        "100 queries ran on the replica"
    );

    let (p_upd, r_upd) = (
        cluster.primary.updates(&user),
        cluster.replica.updates(&user),
    );
    let me = app.gql("{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    for i in 0..100 {
        let body = app
            .gql(
                "mutation($id: ID!, $n: String) { updateUser(id: $id, name: $n) { name } }",
                json!({ "id": me, "n": format!("Admin {i}") }),
            )
            .await;
        assert_eq!(
            body["data"]["updateUser"]["name"],
            format!("Admin {i}"),
            "{body}"
        );
    }
    assert!(
        cluster.primary.updates(&user) >= p_upd + 100,
        "100 mutations ran on the primary"
    );
    assert_eq!(
        cluster.replica.updates(&user),
        r_upd,
        "the app wrote nothing on the replica"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_are_spread_across_two_replicas() {
    let app = TestApp::mysql().replicas(2).start().await;
    let cluster = cluster();
    let user = app.database.clone().unwrap();
    let before = (
        cluster.replica.selects(&user),
        cluster.replica2.selects(&user),
    );
    for _ in 0..40 {
        assert!(app.gql("{ allPermissions { id } }", json!({})).await["errors"].is_null());
    }
    let one = cluster.replica.selects(&user) - before.0;
    let two = cluster.replica2.selects(&user) - before.1;
    assert!(one >= 20 && two >= 20, "reads per replica: {one} and {two}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lagging_replica_read_your_writes_and_rotation() {
    let (cluster, app) = private_app().await;
    let me = app.gql("{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    cluster.replica.sql("STOP SLAVE SQL_THREAD").unwrap();

    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&app.admin_token)
        .json(&json!({ "query": "mutation($id: ID!) { updateUser(id: $id, name: \"Fresh\") { name } }", "variables": { "id": me } }))
        .send()
        .await
        .unwrap();
    let header = resp
        .headers()
        .get("x-consistency-token")
        .map(|v| v.to_str().unwrap().to_owned())
        .expect("token header");
    let cookie = resp
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned())
        .expect("cookie");
    assert!(
        cookie.starts_with("adminql_ct=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["data"]["updateUser"]["name"], "Fresh",
        "the payload comes from the primary"
    );
    assert_eq!(body["extensions"]["consistencyToken"], json!(header));

    let name_query = json!({ "query": "{ me { name } }" });
    let with_token = app
        .post_fresh(
            Some(&app.admin_token),
            &[("x-consistency-token", &header)],
            &name_query,
        )
        .await;
    assert_eq!(
        with_token["data"]["me"]["name"], "Fresh",
        "a read with the token sees the write"
    );
    let cookie_pair = cookie.split(';').next().unwrap().to_owned();
    let with_cookie = app
        .post_fresh(
            Some(&app.admin_token),
            &[("cookie", &cookie_pair)],
            &name_query,
        )
        .await;
    assert_eq!(
        with_cookie["data"]["me"]["name"], "Fresh",
        "the cookie works like the header"
    );
    // A client without the cookie (app.client keeps cookies like a browser).
    let without = app
        .post_fresh(Some(&app.admin_token), &[], &name_query)
        .await;
    assert_eq!(
        without["data"]["me"]["name"], "Administrator",
        "without a token the lagging replica answers"
    );

    let malformed = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&app.admin_token)
        .header("x-consistency-token", "0-1-1'; DROP TABLE users; --")
        .json(&name_query)
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let malformed: Value = malformed.json().await.unwrap();
    assert_eq!(code(&malformed), "BAD_USER_INPUT", "{malformed}");
    assert_eq!(
        malformed["errors"][0]["extensions"]["field"], "X-Consistency-Token",
        "{malformed}"
    );

    // Past REPLICA_MAX_LAG the replica leaves rotation and reads go to the primary.
    wait_for_status(
        &app,
        Duration::from_secs(15),
        "the replica to leave rotation",
        |s| s["replicas"][0]["inRotation"] == false,
    )
    .await;
    let after = app
        .post_fresh(Some(&app.admin_token), &[], &name_query)
        .await;
    assert_eq!(
        after["data"]["me"]["name"], "Fresh",
        "reads moved to the primary"
    );

    cluster.replica.sql("START SLAVE SQL_THREAD").unwrap();
    wait_for_status(
        &app,
        Duration::from_secs(10),
        "the replica to return",
        |s| s["replicas"][0]["inRotation"] == true,
    )
    .await;
}

/// Sends `n` reads from `workers` concurrent clients; every one must succeed.
async fn read_load(app: &TestApp, workers: usize, n: usize) {
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/graphql"),
            app.admin_token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for _ in 0..n {
                let body = read_users(&client, &url, &token).await;
                assert!(body["errors"].is_null(), "a read failed: {body}");
                assert_eq!(body["data"]["allUsers"][0]["email"], ADMIN_EMAIL);
                // Paced, so that the load spans the fault.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("worker");
    }
}

/// One `allUsers` read with its roles, as the admin; the response body.
async fn read_users(client: &reqwest::Client, url: &str, token: &str) -> Value {
    client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": "{ allUsers { email roles { name } } }" }))
        .send()
        .await
        .expect("response")
        .json()
        .await
        .expect("json")
}

/// Reads from `workers` concurrent clients, every one of which must succeed, until
/// `enough` reads that started after `killed` was set have succeeded: it returns only then.
async fn read_through_kill(app: &TestApp, workers: usize, killed: Arc<AtomicBool>, enough: usize) {
    let after_kill = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/graphql"),
            app.admin_token.clone(),
        );
        let (killed, after_kill) = (killed.clone(), after_kill.clone());
        tasks.push(tokio::spawn(async move {
            while after_kill.load(Ordering::SeqCst) < enough {
                let after = killed.load(Ordering::SeqCst);
                let body = read_users(&client, &url, &token).await;
                assert!(
                    body["errors"].is_null(),
                    "a read failed{}: {body}",
                    if after { " after the kill" } else { "" }
                );
                assert_eq!(body["data"]["allUsers"][0]["email"], ADMIN_EMAIL);
                if after {
                    after_kill.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("worker");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_replica_costs_no_read_and_returns_after_restart() {
    let (cluster, app) = private_app().await;
    let killed = Arc::new(AtomicBool::new(false));
    // The load goes on until 20 reads sent after the replica was confirmed dead have
    // succeeded, however long the kill takes to land.
    let load = read_through_kill(&app, 4, killed.clone(), 20);
    let kill = async {
        // Mid-load: once the replica has served some of these reads (rows of `users` read
        // there; the replica monitor reads none).
        let (c, db) = (cluster.clone(), app.database.clone().unwrap());
        let mut before = None;
        crate::support::wait_until("reads on the replica", Duration::from_secs(30), move || {
            let read = c.replica.rows_read(&db, "users");
            read >= *before.get_or_insert(read) + 8
        })
        .await;
        let c = cluster.clone();
        // `kill` returns once the server process is gone.
        tokio::task::spawn_blocking(move || c.replica.kill())
            .await
            .unwrap();
        killed.store(true, Ordering::SeqCst);
    };
    // Every read succeeds while the replica dies (`read_through_kill` fails on any error, and
    // a read stuck past HTTP_REQUEST_TIMEOUT is an error too), and the load ends only after
    // 20 reads sent after it died succeeded.
    tokio::join!(load, kill);
    wait_for_status(
        &app,
        Duration::from_secs(5),
        "the dead replica out of rotation",
        |s| s["replicas"][0]["inRotation"] == false,
    )
    .await;

    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.replica.restart_replica())
        .await
        .unwrap()
        .unwrap();
    wait_for_status(
        &app,
        Duration::from_secs(15),
        "the restarted replica back in rotation",
        |s| s["replicas"][0]["inRotation"] == true,
    )
    .await;
    read_load(&app, 2, 5).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hung_replica_reads_go_to_the_primary() {
    let cluster = crate::support::private_cluster().await;
    let proxy = FaultProxy::start(cluster.replica.port).await;
    let url = format!(
        "mysql://{{db}}:{}@127.0.0.1:{}/{{db}}",
        crate::support::mariadb::APP_PASSWORD,
        proxy.port
    );
    let app = fast(
        TestApp::mysql()
            .cluster(cluster.clone())
            .replica_urls(vec![url]),
    )
    .start()
    .await;
    read_load(&app, 2, 3).await;
    proxy.hang();
    // Every read succeeds through the hang: cut off after DB_STATEMENT_TIMEOUT and retried on
    // the primary, well inside HTTP_REQUEST_TIMEOUT (a read that hung would fail `read_load`).
    read_load(&app, 2, 10).await;
    wait_for_status(
        &app,
        Duration::from_secs(5),
        "the hung replica out of rotation",
        |s| s["replicas"][0]["inRotation"] == false,
    )
    .await;
    proxy.forward();
    wait_for_status(&app, Duration::from_secs(15), "the replica back", |s| {
        s["replicas"][0]["inRotation"] == true
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_primary_means_read_only_until_it_returns() {
    let (cluster, app) = private_app().await;
    let me = app.gql("{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let rename = |name: &'static str| {
        let (app, me) = (&app, me.clone());
        async move {
            app.gql(
                "mutation($id: ID!, $n: String) { updateUser(id: $id, name: $n) { name } }",
                json!({ "id": me, "n": name }),
            )
            .await
        }
    };
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.primary.kill())
        .await
        .unwrap();

    read_load(&app, 2, 5).await;
    let refused = rename("During").await;
    assert_eq!(code(&refused), "READ_ONLY_MODE", "{refused}");
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "reads still work");
    assert_eq!(ready.json::<Value>().await.unwrap()["writes"]["ok"], false);
    wait_for_status(&app, Duration::from_secs(5), "read-only mode", |s| {
        s["readOnly"] == true && s["primary"]["healthy"] == false
    })
    .await;

    let c = cluster.clone();
    tokio::task::spawn_blocking(move || {
        c.primary.start()?;
        c.primary.wait_until_up(Duration::from_secs(60))
    })
    .await
    .unwrap()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let body = rename("After").await;
        if body["errors"].is_null() {
            assert_eq!(body["data"]["updateUser"]["name"], "After");
            break;
        }
        assert!(Instant::now() < deadline, "writes did not resume: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status(&app).await["readOnly"], false);
}

/// A pod that (re)starts while the primary is down must still serve reads: `serve` and the
/// init container's `migrate --allow-primary-down` accept a replica that has every
/// migration when nothing answers at the primary's address. A primary that answers but
/// refuses, or a replica missing a migration, still fail the start.
#[tokio::test(flavor = "multi_thread")]
async fn a_pod_starts_read_only_while_the_primary_is_down() {
    let (cluster, app) = private_app().await;
    let me = app.gql("{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let name = app.database.clone().unwrap();
    let (primary, replica) = (
        cluster.primary.url(&name, &name),
        cluster.replica.url(&name, &name),
    );
    let mut env = vec![
        ("DATABASE_URL", primary.as_str()),
        ("DATABASE_REPLICA_URLS", replica.as_str()),
        ("JWT_SECRET", crate::support::JWT_SECRET),
        ("LISTEN_ADDR", "127.0.0.1:0"),
    ];
    env.extend(FAST_MONITOR);
    let dir = tempfile::tempdir().unwrap();
    let migrate = |env: Vec<(&'static str, String)>| {
        let dir = dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut run = Process::spawn(&dir, &env, &["migrate", "--allow-primary-down"]);
            let started = Instant::now();
            while run.running() {
                assert!(started.elapsed() < Duration::from_secs(30), "{}", run.log);
                std::thread::sleep(Duration::from_millis(50));
            }
            run.terminate()
        })
    };
    let owned = |env: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    };

    // The primary answers but refuses these credentials: no read-only start.
    let wrong = primary.replace(crate::support::mariadb::APP_PASSWORD, "wrong-password");
    let mut refused = owned(&env);
    refused[0].1 = wrong;
    let (code_refused, log) = migrate(refused).await.unwrap();
    assert_eq!(code_refused, Some(2), "{log}");

    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.primary.kill())
        .await
        .unwrap();
    let (code_allowed, log) = migrate(owned(&env)).await.unwrap();
    assert_eq!(code_allowed, Some(0), "{log}");
    assert!(log.contains("starting read-only"), "{log}");

    let mut pod = Process::spawn(dir.path(), &env, &["serve"]);
    let base = format!("http://{}", pod.wait_for_address(Duration::from_secs(30)));
    let post = |query: &'static str| {
        let (app, base) = (&app, &base);
        async move {
            app.client
                .post(format!("{base}/graphql"))
                .bearer_auth(&app.admin_token)
                .json(&json!({ "query": query }))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    // Writes are refused from the first request, not after the monitor's first probe.
    let write = post("mutation { updateUser(id: \"1\", name: \"x\") { name } }").await;
    assert_eq!(code(&write), "READ_ONLY_MODE", "{write}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = app
            .client
            .get(format!("{base}/ready"))
            .send()
            .await
            .unwrap();
        if ready.status() == 200 {
            let body: Value = ready.json().await.unwrap();
            assert_eq!(body["writes"]["ok"], false, "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "never ready:\n{}", pod.log);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let read = post("{ me { id } }").await;
    assert_eq!(read["data"]["me"]["id"], me, "{read}");
    drop(pod);

    // A replica without this build's last migration cannot serve its reads.
    cluster
        .replica
        .sql(&format!(
            "DELETE FROM {name}.__diesel_schema_migrations ORDER BY version DESC LIMIT 1"
        ))
        .unwrap();
    let (code_stale, log) = migrate(owned(&env)).await.unwrap();
    assert_eq!(code_stale, Some(2), "{log}");
    assert!(log.contains("lacks migration"), "{log}");
}
