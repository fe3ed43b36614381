//! The backup and restore scripts on real MariaDB: dump a live adminql database with
//! `scripts/db-backup`, restore it into another MariaDB instance with `scripts/db-restore`,
//! and run adminql against the restored copy.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use crate::support::TestApp;
use crate::support::mariadb::{APP_PASSWORD, Cluster, cluster};

fn script(name: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scripts")
            .join(name),
    )
    .args(args)
    .env("TEST_DB_PASSWORD", APP_PASSWORD)
    .output()
    .expect("run script")
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_into_a_new_instance_that_adminql_serves() {
    let source = TestApp::mysql().start().await;
    for (email, name) in [("kim@example.com", "Kim"), ("lee@example.com", "Lee")] {
        let body = source
            .gql(
                "mutation($e: String!, $n: String!) { createUser(email: $e, name: $n, password: \"backup-pass-123\") { id } }",
                json!({ "e": email, "n": name }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let database = source.database.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("adminql.sql.gz");
    // A backup account with what scripts/db-backup documents, as the CronJob's user has.
    let backup_user = format!("bk_{database}");
    cluster()
        .primary
        .sql(&format!(
            "CREATE USER '{backup_user}'@'127.0.0.1' IDENTIFIED BY '{APP_PASSWORD}';
             GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON {database}.* TO '{backup_user}'@'127.0.0.1';"
        ))
        .unwrap();
    let port = cluster().primary.port.to_string();
    let out = script(
        "db-backup",
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            &backup_user,
            "--password-env",
            "TEST_DB_PASSWORD",
            "--database",
            &database,
            "--out",
            dump.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "db-backup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&dump).unwrap().len() > 1000);

    // A new instance: an empty database and the application user, then the restore.
    let target = Arc::new(tokio::task::spawn_blocking(Cluster::private).await.unwrap());
    target.primary.create_app_database(&database).unwrap();
    let port = target.primary.port.to_string();
    let out = script(
        "db-restore",
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            &database,
            "--password-env",
            "TEST_DB_PASSWORD",
            "--database",
            &database,
            dump.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "db-restore: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // adminql on the restored copy: the admin signs in (the harness does) and lists the users.
    let restored = TestApp::mysql()
        .cluster(target)
        .existing_database(&database)
        .start()
        .await;
    let body = restored
        .gql(
            "{ allUsers(sortField: \"email\") { email } _allUsersMeta { count } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["_allUsersMeta"]["count"], 3, "{body}");
    assert_eq!(body["data"]["allUsers"][1]["email"], "kim@example.com");
    let audit = restored
        .gql(
            "{ _allAuditLogsMeta(filter: { action: \"user.create\" }) { count } }",
            json!({}),
        )
        .await;
    assert_eq!(
        audit["data"]["_allAuditLogsMeta"]["count"], 2,
        "the audit trail came along"
    );
}
