//! adminql follows a promotion, on real MariaDB: a GTID primary and two replicas with
//! semi-synchronous replication, adminql's `DATABASE_URL` through a TCP proxy standing for
//! the primary Service, `DATABASE_REPLICA_URLS` at both replicas. The primary is killed, the
//! most advanced replica (A) is promoted, the other (B) is repointed to A, and the proxy is
//! switched to A: the steps an operator (or mariadb-operator) takes, in that order.
//!
//! The primary stays down for longer than `REPLICA_MAX_LAG`, as it does while an operator or
//! mariadb-operator decides to promote.
//!
//! Observed throughout: reads never fail; writes answer `READ_ONLY_MODE` while there is no
//! primary and succeed again within 5 s of the switch (asserted; both times are printed and
//! docs/deploy.md "Failover" quotes them); every acknowledged write is on the new primary; a consistency
//! token issued before the failover neither hangs a read nor serves older data.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::code;
use crate::support::mariadb::{Cluster, Server};
use crate::support::proxy::FaultProxy;

/// Production defaults for the monitor (src/config.rs), stated so the measured time is the
/// one a deployment gets.
const MONITOR: [(&str, &str); 4] = [
    ("REPLICA_CHECK_INTERVAL", "1s"),
    ("REPLICA_MAX_LAG", "5s"),
    ("DB_CONNECT_TIMEOUT", "1s"),
    ("DB_STATEMENT_TIMEOUT", "5s"),
];

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

/// Semi-synchronous replication as the manifests configure it (mariadb-config, SEMISYNC=on):
/// the primary acknowledges a commit only once a replica has it in its relay log
/// (AFTER_SYNC), and waits long enough here not to fall back to asynchronous mode; the
/// replicas acknowledge. The primary side is not enabled on a replica: with
/// log_slave_updates its applier would wait for acknowledgements from replicas it does not
/// have. `promote` enables it on the promoted server.
fn enable_semisync(cluster: &Cluster) {
    cluster
        .primary
        .sql(SEMISYNC_PRIMARY)
        .expect("semisync on the primary");
    for replica in [&cluster.replica, &cluster.replica2] {
        replica
            .sql(
                "SET GLOBAL rpl_semi_sync_slave_enabled = ON;
                 STOP SLAVE IO_THREAD; START SLAVE IO_THREAD;",
            )
            .expect("semisync on a replica");
    }
    poll(
        Duration::from_secs(20),
        "both replicas acknowledging",
        || {
            status_var(&cluster.primary, "Rpl_semi_sync_master_clients") == "2"
                && status_var(&cluster.primary, "Rpl_semi_sync_master_status") == "ON"
        },
    );
}

const SEMISYNC_PRIMARY: &str = "SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC;
     SET GLOBAL rpl_semi_sync_master_timeout = 60000;
     SET GLOBAL rpl_semi_sync_master_enabled = ON;
     SET GLOBAL rpl_semi_sync_slave_enabled = OFF;";

fn status_var(server: &Server, name: &str) -> String {
    server
        .sql(&format!(
            "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = '{name}'"
        ))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn poll(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The sequence number of domain 0 in a replica's `gtid_slave_pos` once it has applied
/// everything it received (its relay log), i.e. how far it got.
fn drained_position(replica: &Server) -> u64 {
    let status = replica.sql("SHOW SLAVE STATUS\\G").expect("slave status");
    let received = status
        .lines()
        .find_map(|l| l.trim().strip_prefix("Gtid_IO_Pos: "))
        .unwrap_or("")
        .to_owned();
    if !received.is_empty() {
        let waited = replica
            .sql(&format!("SELECT MASTER_GTID_WAIT('{received}', 30)"))
            .expect("gtid wait");
        assert_eq!(waited.trim(), "0", "{} applies its relay log", replica.name);
    }
    let pos = replica.sql("SELECT @@gtid_slave_pos").expect("slave pos");
    pos.trim()
        .split(',')
        .find_map(|g| g.strip_prefix("0-"))
        .and_then(|g| g.rsplit('-').next())
        .and_then(|seq| seq.parse().ok())
        .unwrap_or(0)
}

/// Promotes `a` and repoints `b` to it: what docs/deploy.md "Failover" tells an operator.
fn promote(a: &Server, b: &Server) {
    a.sql(&format!(
        "STOP SLAVE; RESET SLAVE ALL; {SEMISYNC_PRIMARY} SET GLOBAL read_only = OFF;"
    ))
    .expect("promote A");
    b.sql(&format!(
        "STOP SLAVE;
         CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='repl',
           MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
         START SLAVE;",
        a.port
    ))
    .expect("repoint B");
}

#[derive(Default)]
struct Log {
    /// Role names whose createRole was acknowledged.
    acked: Vec<String>,
    /// (when it was sent, error code) of every refused write.
    refused: Vec<(Instant, String)>,
    /// When each acknowledged write answered.
    acked_at: Vec<Instant>,
}

#[tokio::test(flavor = "multi_thread")]
async fn adminql_follows_a_promotion_without_losing_an_acknowledged_write() {
    let cluster = Arc::new(blocking(Cluster::private).await);
    let c = cluster.clone();
    blocking(move || enable_semisync(&c)).await;
    let proxy = FaultProxy::start(cluster.primary.port).await;
    let replicas = [&cluster.replica, &cluster.replica2]
        .map(|r| {
            format!(
                "mysql://{{db}}:{}@127.0.0.1:{}/{{db}}",
                crate::support::mariadb::APP_PASSWORD,
                r.port
            )
        })
        .to_vec();
    let builder = MONITOR.iter().fold(
        TestApp::mysql()
            .cluster(cluster.clone())
            .primary_url(&format!(
                "mysql://{{db}}:{}@127.0.0.1:{}/{{db}}",
                crate::support::mariadb::APP_PASSWORD,
                proxy.port
            ))
            .replica_urls(replicas),
        |b, (k, v)| b.env(k, v),
    );
    let app = Arc::new(builder.start().await);
    let database = app.database.clone().expect("a MariaDB database");

    // The token of a write made before the failover, once both replicas have applied it.
    let me = app.gql("{ me { id } }", json!({})).await["data"]["me"]["id"].clone();
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&app.admin_token)
        .json(&json!({ "query": "mutation($id: ID!) { updateUser(id: $id, name: \"Before failover\") { name } }", "variables": { "id": me } }))
        .send()
        .await
        .expect("response");
    let token = resp
        .headers()
        .get("x-consistency-token")
        .and_then(|v| v.to_str().ok())
        .expect("a consistency token")
        .to_owned();
    let body: Value = resp.json().await.expect("json");
    assert!(body["errors"].is_null(), "{body}");

    let stop = Arc::new(AtomicBool::new(false));
    let read_failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (app, stop, failures) = (app.clone(), stop.clone(), read_failures.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let body = app
                    .post_fresh(
                        Some(&app.admin_token),
                        &[],
                        &json!({ "query": "{ allRoles(perPage: 5) { id name } }" }),
                    )
                    .await;
                if !body["errors"].is_null() || body["data"]["allRoles"].is_null() {
                    failures.lock().unwrap().push(body.to_string());
                }
                reads += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            reads
        }));
    }
    let log = Arc::new(Mutex::new(Log::default()));
    let writer = {
        let (app, stop, log) = (app.clone(), stop.clone(), log.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let name = format!("failover-{n}");
                // Refusals are judged by when the write was sent: one in flight when the
                // primary died has an unknown outcome, not a refusal to explain.
                let sent = Instant::now();
                let body = app
                    .post_fresh(
                        Some(&app.admin_token),
                        &[],
                        &json!({ "query": "mutation($n: String!) { createRole(name: $n) { name } }", "variables": { "n": name } }),
                    )
                    .await;
                {
                    let mut log = log.lock().unwrap();
                    if body["data"]["createRole"]["name"] == json!(name) {
                        log.acked.push(name);
                        log.acked_at.push(Instant::now());
                    } else {
                        log.refused.push((sent, code(&body).to_owned()));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let wait_acked = |min: usize| {
        let log = log.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while log.lock().unwrap().acked.len() < min {
                assert!(Instant::now() < deadline, "writes did not get through");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_acked(5).await;

    // The primary dies. Writes must be refused with READ_ONLY_MODE until the switch.
    let c = cluster.clone();
    blocking(move || c.primary.kill()).await;
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(15);
    loop {
        let s = app.gql("{ systemStatus { readOnly } }", json!({})).await;
        if s["data"]["systemStatus"]["readOnly"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "adminql did not notice: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let noticed = killed.elapsed();
    let refused_before = log.lock().unwrap().refused.len();
    // Several refusals while there is no primary, and the token read works meanwhile.
    let deadline = Instant::now() + Duration::from_secs(10);
    while log.lock().unwrap().refused.len() < refused_before + 3 {
        assert!(Instant::now() < deadline, "no write was refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let during = read_with_token(&app, &token).await;
    assert_eq!(
        during, "Before failover",
        "token read while there is no primary"
    );

    // An operator (or mariadb-operator) takes seconds to decide: no primary for longer than
    // REPLICA_MAX_LAG, observed as the age of the replicas' last heartbeat row.
    let (c, db) = (cluster.clone(), database.clone());
    blocking(move || {
        poll(Duration::from_secs(30), "heartbeats older than REPLICA_MAX_LAG", || {
            [&c.replica, &c.replica2].iter().all(|r| {
                r.sql(&format!(
                    "SELECT TIMESTAMPDIFF(MICROSECOND, beat_at, UTC_TIMESTAMP(6)) > 7000000 FROM {db}.heartbeat WHERE id = 1"
                ))
                .map(|v| v.trim() == "1")
                .unwrap_or(false)
            })
        })
    })
    .await;
    let during = read_with_token(&app, &token).await;
    assert_eq!(
        during, "Before failover",
        "token read after REPLICA_MAX_LAG with no primary"
    );

    // Promote the most advanced replica, repoint the other, switch the "Service".
    let c = cluster.clone();
    let (a_port, promoted) = blocking(move || {
        let (first, second) = (drained_position(&c.replica), drained_position(&c.replica2));
        let (a, b) = if first >= second {
            (&c.replica, &c.replica2)
        } else {
            (&c.replica2, &c.replica)
        };
        promote(a, b);
        (a.port, a.name)
    })
    .await;
    let acked_before_switch = log.lock().unwrap().acked.clone();
    proxy.switch_to(a_port);
    let switched = Instant::now();
    let resumed = {
        let deadline = switched + Duration::from_secs(30);
        loop {
            let first = log
                .lock()
                .unwrap()
                .acked_at
                .iter()
                .copied()
                .find(|t| *t > switched);
            if let Some(t) = first {
                break t - switched;
            }
            assert!(
                Instant::now() < deadline,
                "writes did not resume after the switch"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let count = log.lock().unwrap().acked.len();
    wait_acked(count + 10).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.expect("writer");
    let mut reads = 0;
    for r in readers {
        reads += r.await.expect("reader");
    }
    eprintln!(
        "failover: adminql read-only {:.2}s after the kill (first systemStatus answering readOnly); \
         writes resumed {:.3}s after the proxy switch to {promoted} (first acknowledged createRole); {reads} reads",
        noticed.as_secs_f64(),
        resumed.as_secs_f64()
    );

    let failures = read_failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "reads failed: {failures:?}");
    let (refused, acked) = {
        let log = log.lock().unwrap();
        (log.refused.clone(), log.acked.clone())
    };
    let codes: Vec<&str> = refused
        .iter()
        .filter(|(t, _)| *t > killed && *t < switched)
        .map(|(_, c)| c.as_str())
        .collect();
    assert!(
        codes.iter().all(|c| *c == "READ_ONLY_MODE"),
        "writes with no primary: {codes:?}"
    );
    let after: Vec<&str> = refused
        .iter()
        .filter(|(t, _)| *t > switched + resumed)
        .map(|(_, c)| c.as_str())
        .collect();
    assert!(
        after.is_empty(),
        "writes refused after they resumed: {after:?}"
    );
    // The acceptance bound of the data-tier issue: writes succeed again within 5 s of the
    // proxy (the primary Service) switching. docs/deploy.md "Failover" quotes the printed times.
    assert!(
        resumed <= Duration::from_secs(5),
        "writes resumed {resumed:?} after the switch; the bound is 5 s"
    );

    // Every acknowledged write (before the kill included) is on the new primary and on B.
    let c = cluster.clone();
    blocking(move || {
        let (a, b) = if c.replica.port == a_port {
            (&c.replica, &c.replica2)
        } else {
            (&c.replica2, &c.replica)
        };
        let pos = a.sql("SELECT @@gtid_binlog_pos").expect("pos");
        let waited = b
            .sql(&format!("SELECT MASTER_GTID_WAIT('{}', 30)", pos.trim()))
            .expect("wait");
        assert_eq!(waited.trim(), "0", "B replicates from A");
        for server in [a, b] {
            let names = server
                .sql(&format!(
                    "SELECT name FROM {database}.roles WHERE name LIKE 'failover-%'"
                ))
                .expect("roles");
            let names: std::collections::HashSet<&str> = names.lines().collect();
            let lost: Vec<&String> = acked
                .iter()
                .filter(|n| !names.contains(n.as_str()))
                .collect();
            assert!(
                lost.is_empty(),
                "acknowledged writes lost on {}: {lost:?}",
                server.name
            );
        }
    })
    .await;
    assert!(acked_before_switch.len() >= 5);

    let after = read_with_token(&app, &token).await;
    assert_eq!(after, "Before failover", "token read after the switch");
}

/// `me { name }` with a consistency token, from a client without cookies; bounded, so a
/// read that hangs fails the test instead of stalling it.
async fn read_with_token(app: &TestApp, token: &str) -> String {
    let body = tokio::time::timeout(
        Duration::from_secs(10),
        app.post_fresh(
            Some(&app.admin_token),
            &[("x-consistency-token", token)],
            &json!({ "query": "{ me { name } }" }),
        ),
    )
    .await
    .expect("a read with a pre-failover token answers");
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["me"]["name"].as_str().unwrap_or("").to_owned()
}
