//! The scheduled restore drill (manifests/mariadb-restore-drill.yaml) on real MariaDB, its steps
//! run with the commands and arguments the CronJob's containers have in the manifest: `fetch`
//! pulls the newest dump and the binlog archive from a real S3 API (moto's server, as in
//! offsite.rs), `restore` (`scripts/db-restore-drill restore`) loads them into a fresh database,
//! `migrate` runs the real adminql binary against the copy, and `report` checks row counts and
//! pushes the result to a Pushgateway stand-in (a loopback listener that records the request).
//! Only the paths, the database name and the connection are changed to this test's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::pitr_support::{
    Archiver, ObjectStore, backup, caught_up, ids, insert, run, source_database, text, wait_for,
};
use crate::support::JWT_SECRET;
use crate::support::mariadb::{APP_PASSWORD, cluster};

/// Accepts one HTTP request on a free loopback port, answers 200 and sends the request's head and
/// body back through the channel.
fn pushgateway() -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let (mut head, mut length) = (String::new(), 0usize);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut stream = reader.into_inner();
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .unwrap();
        let _ = tx.send((head, String::from_utf8(body).unwrap()));
    });
    (url, rx)
}

/// A container of the drill's pod (init containers included), as JSON, read from the manifest
/// with PyYAML (scripts/test installs it).
fn drill_container(name: &str) -> Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, yaml\n\
             cron = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d['kind'] == 'CronJob'][0]\n\
             pod = cron['spec']['jobTemplate']['spec']['template']['spec']\n\
             print(json.dumps([c for c in pod['initContainers'] + pod['containers'] if c['name'] == sys.argv[2]][0]))",
        )
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/mariadb-restore-drill.yaml"))
        .arg(name)
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// The manifest's paths and connection, made this test's: /scripts and /work to the repository's
/// scripts/ and the work directory, database `adminql` to `target`, `root` to `user`, the drill's
/// password variable to the tests'.
fn localize(arg: &str, work: &str, target: &str, user: &str) -> String {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    // /work first: the repository's own path may contain it.
    arg.replace("/work", work)
        .replace("/scripts/", &format!("{}/", scripts.display()))
        .replace("--database adminql", &format!("--database {target}"))
        .replace("--user root", &format!("--user {user}"))
        .replace("DRILL_PASSWORD", "TEST_DB_PASSWORD")
}

/// Runs a step whose command is a list (`command` + `args`), with the list's values localized.
fn run_list(container: &Value, work: &str, target: &str, user: &str, port: u16) -> Output {
    let mut argv = strings(&container["command"]);
    argv.extend(container.get("args").map(strings).unwrap_or_default());
    let mut argv = argv.into_iter().peekable();
    let program = argv.next().unwrap();
    let mut args = Vec::new();
    while let Some(a) = argv.next() {
        match a.as_str() {
            "--database" => {
                args.extend([a, target.to_owned()]);
                argv.next();
            }
            "--user" => {
                args.extend([a, user.to_owned()]);
                argv.next();
            }
            _ => args.push(localize(&a, work, target, user)),
        }
    }
    Command::new(program)
        .args(args)
        .env("TEST_DB_PASSWORD", APP_PASSWORD)
        .env("MYSQL_TCP_PORT", port.to_string())
        .output()
        .expect("run the step")
}

#[test]
fn restore_drill_pulls_restores_migrates_checks_rows_and_pushes_its_result() {
    let store = ObjectStore::start();
    let cluster = cluster();
    let primary = &cluster.primary;
    let db = format!("drill_{}", std::process::id());
    let user = source_database(primary, &db);
    let work = tempfile::tempdir().unwrap();
    let (backups, archive) = (work.path().join("backups"), work.path().join("binlogs"));
    std::fs::create_dir(&backups).unwrap();
    let mut archiver = Archiver::start(&user, primary.port, &archive, &work.path().join("m.prom"));
    wait_for("the archiver to catch up", Duration::from_secs(60), || {
        caught_up(primary, &archive).then_some(())
    });
    backup(
        &user,
        primary.port,
        &db,
        &backups.join(format!("{db}-20990101T000000Z.sql.gz")),
    );
    // After the dump, so only the binlogs carry them: adminql's schema (its migration, run by the
    // real binary) with the first admin, and rows 1 to 10.
    let source_url = format!(
        "mysql://{user}:{APP_PASSWORD}@127.0.0.1:{}/{db}",
        primary.port
    );
    let mut admin = Command::new(env!("CARGO_BIN_EXE_adminql"))
        .args([
            "create-admin",
            "--email",
            "drill@example.com",
            "--password-stdin",
        ])
        .env("DATABASE_URL", &source_url)
        .env("JWT_SECRET", JWT_SECRET)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    admin
        .stdin
        .take()
        .unwrap()
        .write_all(b"drill-password-123\n")
        .unwrap();
    let out = admin.wait_with_output().unwrap();
    assert!(out.status.success(), "create-admin: {}", text(&out));
    insert(primary, &db, 1..=10, "A");
    wait_for(
        "the archiver to stream the rows",
        Duration::from_secs(60),
        || caught_up(primary, &archive).then_some(()),
    );
    archiver.kill("-TERM");
    for (what, dir) in [("push-dumps", &backups), ("push-binlogs", &archive)] {
        let out = store.offsite(&[what, dir.to_str().unwrap()]);
        assert!(out.status.success(), "{what}: {}", text(&out));
    }

    let target = format!("{db}_d");
    let pulled = work.path().join("pulled");
    std::fs::create_dir(&pulled).unwrap();
    let work_dir = pulled.to_str().unwrap();

    // fetch: the init container's shell command, against the bucket.
    let fetch = drill_container("fetch");
    let command = localize(
        strings(&fetch["args"])[0].as_str(),
        work_dir,
        &target,
        &user,
    );
    let mut sh = Command::new("sh");
    sh.args(["-c", &command]);
    let out = store.env(&mut sh).output().unwrap();
    assert!(out.status.success(), "fetch: {}", text(&out));
    assert!(
        pulled
            .join(format!("{db}-20990101T000000Z.sql.gz"))
            .is_file()
    );
    let pulled_at: f64 = std::fs::read_to_string(pulled.join("pulled-at"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    // restore: the dump, then every binlog replayed (--to-end).
    let out = run_list(
        &drill_container("restore"),
        work_dir,
        &target,
        &user,
        primary.port,
    );
    assert!(out.status.success(), "drill restore: {}", text(&out));
    assert!(
        text(&out).contains("to the end of the archive"),
        "{}",
        text(&out)
    );
    assert_eq!(
        ids(primary, &target),
        (0..=10).collect::<Vec<_>>(),
        "{}",
        text(&out)
    );

    // migrate: the real adminql binary with the container's arguments against the copy; the
    // replay brought its migration along, so there is nothing left to apply.
    let migrate = drill_container("migrate");
    let manifest_url = migrate["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "DATABASE_URL")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(manifest_url, "mysql://root:drill@127.0.0.1:3306/adminql");
    let out = Command::new(env!("CARGO_BIN_EXE_adminql"))
        .args(strings(&migrate["args"]))
        .env(
            "DATABASE_URL",
            format!(
                "mysql://{user}:{APP_PASSWORD}@127.0.0.1:{}/{target}",
                primary.port
            ),
        )
        .env("JWT_SECRET", JWT_SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "adminql migrate: {}", text(&out));
    assert!(
        text(&out).contains("applied 0 migration(s)"),
        "{}",
        text(&out)
    );
    // schema: `migrate --check` finds the copy at this build's schema; a copy that a newer
    // adminql migrated (a version this build does not know) fails the step.
    let schema = drill_container("schema");
    assert_eq!(strings(&schema["args"]), ["migrate", "--check"]);
    let check = |database: &str| {
        Command::new(env!("CARGO_BIN_EXE_adminql"))
            .args(strings(&schema["args"]))
            .env(
                "DATABASE_URL",
                format!(
                    "mysql://{user}:{APP_PASSWORD}@127.0.0.1:{}/{database}",
                    primary.port
                ),
            )
            .env("JWT_SECRET", JWT_SECRET)
            .output()
            .unwrap()
    };
    let out = check(&target);
    assert!(
        out.status.success(),
        "adminql migrate --check: {}",
        text(&out)
    );
    primary
        .sql(&format!(
            "INSERT INTO {target}.__diesel_schema_migrations (version) VALUES ('29990101000000')"
        ))
        .unwrap();
    let out = check(&target);
    assert!(
        !out.status.success() && text(&out).contains("29990101000000"),
        "a schema from a newer adminql passed the check: {}",
        text(&out)
    );
    primary
        .sql(&format!(
            "DELETE FROM {target}.__diesel_schema_migrations WHERE version = '29990101000000'"
        ))
        .unwrap();

    // A copy whose schema adminql cannot bring up to date fails the step, and so the drill: here a
    // `users` table of another shape and no migration record.
    let broken = format!("{db}_b");
    primary
        .sql(&format!(
            "CREATE DATABASE {broken}; CREATE TABLE {broken}.users (id INT PRIMARY KEY);"
        ))
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_adminql"))
        .args(strings(&migrate["args"]))
        .env(
            "DATABASE_URL",
            format!(
                "mysql://{user}:{APP_PASSWORD}@127.0.0.1:{}/{broken}",
                primary.port
            ),
        )
        .env("JWT_SECRET", JWT_SECRET)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "adminql migrate accepted a schema it cannot migrate: {}",
        text(&out)
    );

    // Too few rows is a failed drill, and nothing is pushed.
    let port = primary.port.to_string();
    let out = run(
        "db-restore-drill",
        &[
            "report",
            "--work",
            work_dir,
            "--database",
            &target,
            "--port",
            &port,
            "--user",
            &user,
            "--password-env",
            "TEST_DB_PASSWORD",
            "--min-rows",
            "t=1000",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("sanity check failed: t has 11 rows"),
        "{}",
        text(&out)
    );

    // report: the container's command (at least one user), pushed with the pod's namespace.
    let report = drill_container("report");
    let (url, pushed) = pushgateway();
    let command = localize(
        strings(&report["args"])[0].as_str(),
        work_dir,
        &target,
        &user,
    );
    let out = Command::new("bash")
        .args(["-c", &command])
        .env("TEST_DB_PASSWORD", APP_PASSWORD)
        .env("MYSQL_TCP_PORT", &port)
        .env("PUSHGATEWAY_URL", &url)
        .env("POD_NAMESPACE", "adminql")
        .output()
        .unwrap();
    assert!(out.status.success(), "drill report: {}", text(&out));
    let (head, body) = pushed
        .recv_timeout(Duration::from_secs(30))
        .expect("a push");
    // Grouped by namespace: with honor_labels the series keep namespace="adminql", which the alert
    // and the dashboard select on.
    assert!(
        head.starts_with("PUT /metrics/job/adminql_restore_drill/namespace/adminql HTTP/1.1"),
        "{head}"
    );
    let value = |name: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing: {body}"))
            .parse()
            .unwrap()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let success = value("adminql_restore_drill_last_success_timestamp_seconds");
    assert!(
        (pulled_at..=now + 1.0).contains(&success),
        "success at {success}, pulled at {pulled_at}, now {now}"
    );
    // The duration runs from the pull (the fetch step's pulled-at) to the report.
    assert_eq!(
        value("adminql_restore_drill_duration_seconds"),
        success - pulled_at,
        "{body}"
    );
    assert!(
        body.contains("adminql_restore_drill_restored_rows{table=\"t\"} 11"),
        "{body}"
    );
    assert!(
        body.contains("adminql_restore_drill_restored_rows{table=\"users\"} 1"),
        "{body}"
    );

    // Without a namespace for the grouping label, a push is refused before anything runs.
    let out = run(
        "db-restore-drill",
        &[
            "report",
            "--work",
            work_dir,
            "--database",
            &target,
            "--push",
            &url,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--namespace"), "{}", text(&out));
}
