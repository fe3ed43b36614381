//! Retention on MariaDB and SQLite, with rows back-dated by SQL: old rows go, recent rows
//! stay, no statement deletes more than a batch, 0 keeps everything, and with MySQL a pod
//! that does not hold the advisory lock skips the pass; the task `serve` starts counts exactly
//! what it prunes.

use std::time::Duration;

use adminql::config::{DatabaseUrl, RetentionConfig};
use adminql::retention::{self, Pass, Pruned};
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::support::mariadb::{Counts, cluster};
use crate::support::process::Process;
use crate::support::sql::db_run;
use crate::support::{Backend, JWT_SECRET, TestApp, sample};

async fn exec(app: &TestApp, sql: &str) {
    let (mut conn, _) = app.state.db.write().await.unwrap();
    let conn = &mut conn;
    db_run!(conn: {
        diesel::sql_query(sql).execute(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    });
}

async fn count(app: &TestApp, table: &str, condition: &str) -> i64 {
    let (mut conn, _) = app.state.db.write().await.unwrap();
    let conn = &mut conn;
    let sql = format!("(SELECT COUNT(*) FROM {table} WHERE {condition})");
    db_run!(conn: {
        diesel::select(diesel::dsl::sql::<BigInt>(&sql)).get_result(conn).await.unwrap()
    })
}

/// A timestamp `days` ago, as both backends store it.
fn ago(days: i64) -> String {
    (chrono::Utc::now().naive_utc() - chrono::Duration::days(days))
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

/// Audit rows: `old` from 40 days ago, `recent` from yesterday. Refresh tokens of the admin:
/// expired 3 days ago, revoked 3 days ago, expired an hour ago (within the grace), live.
async fn seed(app: &TestApp, tag: &str, old: usize, recent: usize) {
    let rows: Vec<String> = (0..old + recent)
        .map(|i| {
            let (kind, days) = if i < old { ("old", 40) } else { ("recent", 1) };
            format!("('{}', '{tag}.{kind}', '{{}}')", ago(days))
        })
        .collect();
    exec(
        app,
        &format!(
            "INSERT INTO audit_log (at, action, changes) VALUES {}",
            rows.join(", ")
        ),
    )
    .await;
    let me = app.gql("{ me { id } }", json!({})).await["data"]["me"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = |name: &str, expires: String, revoked: Option<String>| {
        let revoked = revoked.map_or("NULL".to_owned(), |r| format!("'{r}'"));
        format!(
            "({me}, '{tag}-{name}-{}', '{tag}', '{expires}', '{}', {revoked})",
            uuid::Uuid::new_v4().simple(),
            ago(20)
        )
    };
    let hour_ago = (chrono::Utc::now().naive_utc() - chrono::Duration::hours(1))
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string();
    exec(
        app,
        &format!(
            "INSERT INTO refresh_tokens (user_id, token_hash, family_id, expires_at, created_at, revoked_at) VALUES {}, {}, {}, {}",
            token("expired", ago(3), None),
            token("revoked", ago(-5), Some(ago(3))),
            token("grace", hour_ago, None),
            token("live", ago(-5), None),
        ),
    )
    .await;
}

fn settings(app: &TestApp) -> RetentionConfig {
    app.state.config.retention.clone()
}

async fn prunes_in_batches(backend: Backend) {
    let app = TestApp::on(backend)
        .env("AUDIT_LOG_RETENTION", "30d")
        .env("REFRESH_TOKEN_RETENTION", "1d")
        .env("RETENTION_BATCH_SIZE", "3")
        // The monitor writes its heartbeat as the app's user: once, at start.
        .env("REPLICA_CHECK_INTERVAL", "1h")
        .start()
        .await;
    seed(&app, "r", 4, 2).await;
    let updates = || {
        let user = app.database.clone();
        move || user.map(|u| cluster().primary.updates(&u))
    };
    let before = tokio::task::spawn_blocking(updates()).await.unwrap();

    let pass = retention::run_pass(&app.state.db, &settings(&app))
        .await
        .unwrap()
        .expect("the lock is free");
    assert_eq!(
        pass,
        Pass {
            audit_log: Pruned {
                rows: 4,
                deletes: 2
            },
            refresh_tokens: Pruned {
                rows: 2,
                deletes: 1
            },
        },
        "4 old rows with batches of 3 take two statements"
    );
    if let (Some(before), Some(after)) = (
        before,
        tokio::task::spawn_blocking(updates()).await.unwrap(),
    ) {
        assert_eq!(
            after - before,
            3,
            "three DELETEs reached the server, nothing else wrote"
        );
    }
    assert_eq!(count(&app, "audit_log", "action = 'r.old'").await, 0);
    assert_eq!(count(&app, "audit_log", "action = 'r.recent'").await, 2);
    assert_eq!(
        count(&app, "refresh_tokens", "family_id = 'r'").await,
        2,
        "the token within its grace and the live one stay"
    );
    assert_eq!(
        count(
            &app,
            "refresh_tokens",
            "token_hash LIKE 'r-grace-%' OR token_hash LIKE 'r-live-%'"
        )
        .await,
        2
    );
    assert!(
        count(&app, "audit_log", "action = 'auth.login'").await >= 1,
        "today's rows stay"
    );
    let again = retention::run_pass(&app.state.db, &settings(&app))
        .await
        .unwrap();
    assert_eq!(again, Some(Pass::default()), "nothing left to prune");

    seed(&app, "k", 2, 0).await;
    let keep = RetentionConfig {
        audit_log: Duration::ZERO,
        refresh_tokens: Duration::ZERO,
        ..settings(&app)
    };
    let pass = retention::run_pass(&app.state.db, &keep).await.unwrap();
    assert_eq!(pass, Some(Pass::default()), "0 keeps everything");
    assert_eq!(count(&app, "audit_log", "action = 'k.old'").await, 2);
    assert_eq!(count(&app, "refresh_tokens", "family_id = 'k'").await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_prunes_old_rows_in_batches() {
    prunes_in_batches(Backend::Mysql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_prunes_old_rows_in_batches() {
    prunes_in_batches(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_pod_at_a_time_prunes() {
    let app = TestApp::mysql()
        .env("AUDIT_LOG_RETENTION", "30d")
        .start()
        .await;
    seed(&app, "l", 1, 0).await;
    // Another pod's pass: a session of its own holding the lock.
    let (mut other, _) = app.state.db.write().await.unwrap();
    assert!(retention::repo::try_lock(&mut other).await.unwrap());
    let skipped = retention::run_pass(&app.state.db, &settings(&app))
        .await
        .unwrap();
    assert_eq!(
        skipped, None,
        "skipped while another session holds the lock"
    );
    assert_eq!(count(&app, "audit_log", "action = 'l.old'").await, 1);
    retention::repo::unlock(&mut other).await.unwrap();
    drop(other);
    let pass = retention::run_pass(&app.state.db, &settings(&app))
        .await
        .unwrap();
    assert_eq!(pass.map(|p| p.audit_log.rows), Some(1));
}

/// The task `serve` starts prunes at start and counts what it pruned, exactly: the real
/// binary on the test's SQLite file, so its `/metrics` are its own (in this process, the
/// other tests' passes add to the same counters).
#[tokio::test(flavor = "multi_thread")]
async fn the_task_prunes_on_its_interval_and_counts() {
    let app = TestApp::sqlite().start().await;
    seed(&app, "t", 2, 1).await;
    let (audit_before, tokens_before) = (
        count(&app, "audit_log", "1 = 1").await,
        count(&app, "refresh_tokens", "1 = 1").await,
    );
    let DatabaseUrl::Sqlite(file) = &app.state.config.database.primary else {
        unreachable!("a SQLite app")
    };
    let url = format!("sqlite://{}", file.display());
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("RETENTION_INTERVAL", "100ms"),
        ("AUDIT_LOG_RETENTION", "30d"),
        ("REFRESH_TOKEN_RETENTION", "1d"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut pod = Process::spawn(dir.path(), &env, &["serve"]);
    let base = format!("http://{}", pod.wait_for_address(Duration::from_secs(30)));
    // Logged once a pass that pruned rows is over, its counts added.
    pod.wait_for("retention pass pruned rows", Duration::from_secs(30));

    assert_eq!(count(&app, "audit_log", "action = 't.old'").await, 0);
    assert_eq!(count(&app, "audit_log", "action = 't.recent'").await, 1);
    assert_eq!(
        count(&app, "refresh_tokens", "family_id = 't'").await,
        2,
        "the token within its grace and the live one stay"
    );
    let pruned_audit = audit_before - count(&app, "audit_log", "1 = 1").await;
    let pruned_tokens = tokens_before - count(&app, "refresh_tokens", "1 = 1").await;
    assert_eq!((pruned_audit, pruned_tokens), (2, 2), "{}", pod.log);
    let text = crate::support::metrics_at(&base).await;
    for (table, pruned) in [
        ("audit_log", pruned_audit),
        ("refresh_tokens", pruned_tokens),
    ] {
        let series = format!(r#"adminql_retention_pruned_rows_total{{table="{table}"}}"#);
        assert_eq!(
            sample(&text, &series),
            Some(pruned as f64),
            "{series} counts the rows pruned:\n{text}"
        );
    }
}
