//! The real binary: exit codes, one-line configuration errors, `--help`, and the embedded
//! default (first start creates the database and admin, a second start reuses them).

use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::process::{BIN, Process, migrate_refused, text};

fn adminql(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("run adminql")
}

const SECRET: (&str, &str) = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");

#[test]
fn bad_configuration_exits_2_with_one_clear_line() {
    assert_eq!(
        migrate_refused(&[("DATABASE_URL", "not a url")]),
        "adminql: DATABASE_URL: 'not a url' is not a URL like mysql://user:password@host:3306/db or sqlite://path"
    );
    assert_eq!(
        migrate_refused(&[("DATABASE_URL", "postgres://db/app")]),
        "adminql: DATABASE_URL: unsupported scheme 'postgres': use mysql:// or sqlite://"
    );
    assert_eq!(
        migrate_refused(&[
            ("DATABASE_URL", "mysql://u:p@127.0.0.1/app"),
            ("DATABASE_REPLICA_URLS", "sqlite://x"),
            SECRET
        ]),
        "adminql: DATABASE_REPLICA_URLS: 'sqlite://x' is not a mysql:// URL"
    );
    assert!(
        migrate_refused(&[("DB_POOL_SIZE", "lots")]).starts_with("adminql: DB_POOL_SIZE: 'lots'")
    );
}

#[test]
fn unreachable_database_exits_2_at_the_first_refusal() {
    let line = migrate_refused(&[
        ("DATABASE_URL", "mysql://u:secretpw@127.0.0.1:1/app"),
        SECRET,
    ]);
    assert!(
        line.starts_with("adminql: DATABASE_URL: cannot migrate mysql://u:***@127.0.0.1:1/app:"),
        "{line}"
    );
    assert!(!line.contains("secretpw"));
    // It gives up on the refused connection itself (no retry loop, no waiting out a timeout):
    // the one line carries that connection's own error.
    assert!(line.to_lowercase().contains("refused"), "{line}");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        adminql(dir.path(), &[], &["frobnicate"]).status.code(),
        Some(2)
    );
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["create-admin", "--help"],
        &["print-schema", "--help"],
    ] {
        let out = adminql(dir.path(), &[], args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: adminql"),
            "{args:?}"
        );
    }
}

#[test]
fn print_schema_prints_the_committed_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = adminql(dir.path(), &[], &["print-schema"]);
    assert_eq!(out.status.code(), Some(0));
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "print-schema differs from schema.graphql"
    );
}

/// Starts `adminql` with no configuration but a port, waits for it to listen, and returns
/// its log after a SIGTERM-triggered shutdown (which must exit 0).
fn run_embedded_once(dir: &std::path::Path) -> (String, u16) {
    let mut server = Process::spawn(dir, &[("LISTEN_ADDR", "127.0.0.1:0")], &[]);
    let addr = server.wait_for_address(Duration::from_secs(30));
    server.wait_for("GraphiQL: ", Duration::from_secs(30));
    let health = std::net::TcpStream::connect(addr);
    assert!(health.is_ok(), "listening on {addr}");
    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "clean exit on SIGTERM:\n{log}");
    (log, addr.port())
}

#[test]
fn embedded_default_creates_once_and_reuses() {
    let dir = tempfile::tempdir().unwrap();
    let (first, port) = run_embedded_once(dir.path());
    assert!(dir.path().join("adminql.db").is_file());
    assert!(
        first.contains("created the bootstrap admin with a generated password"),
        "{first}"
    );
    assert!(first.contains("admin@localhost"), "{first}");
    assert!(
        first.contains(&format!("GraphiQL: http://127.0.0.1:{port}/graphiql")),
        "{first}"
    );
    assert!(
        first.contains(&format!("admin UI: http://127.0.0.1:{port}/admin")),
        "{first}"
    );

    let (second, _) = run_embedded_once(dir.path());
    assert!(!second.contains("created the bootstrap admin"), "{second}");
    assert!(!second.contains("applied migration"), "{second}");
}

#[test]
fn create_admin_reads_the_password_from_stdin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "create-admin",
            "--email",
            "Ops@Example.com",
            "--password-stdin",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a-long-ops-password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created admin ops@example.com"));

    let again = Command::new(BIN)
        .args(["create-admin", "--email", "ops@example.com"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

/// `migrate --check` changes nothing and exits 0 only when the database is at this build's
/// schema: 1 with the pending versions before `migrate` (still pending after a second check),
/// 1 naming a version a newer adminql applied, 2 without creating a database at a path where
/// there is none, and `--allow-primary-down` does not go with it.
#[test]
fn migrate_check_compares_without_changing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = adminql(
        dir.path(),
        &[("DATABASE_URL", "sqlite://missing.db")],
        &["migrate", "--check"],
    );
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(
        text(&missing).contains("does not exist"),
        "{}",
        text(&missing)
    );
    assert!(
        !dir.path().join("missing.db").exists(),
        "--check created it"
    );

    // An empty file is an SQLite database without tables.
    std::fs::File::create(dir.path().join("check.db")).unwrap();
    let db = ("DATABASE_URL", "sqlite://check.db");
    for _ in 0..2 {
        let fresh = adminql(dir.path(), &[db], &["migrate", "--check"]);
        assert_eq!(fresh.status.code(), Some(1), "{}", text(&fresh));
        assert!(
            text(&fresh).contains("pending (run `adminql migrate`)"),
            "{}",
            text(&fresh)
        );
    }
    let migrated = adminql(dir.path(), &[db], &["migrate"]);
    assert_eq!(migrated.status.code(), Some(0), "{}", text(&migrated));
    let current = adminql(dir.path(), &[db], &["migrate", "--check"]);
    assert_eq!(current.status.code(), Some(0), "{}", text(&current));
    assert!(
        text(&current).contains("schema is current"),
        "{}",
        text(&current)
    );

    {
        use diesel::{Connection, RunQueryDsl, SqliteConnection};
        let path = dir.path().join("check.db");
        let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::sql_query(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('29990101000000')",
        )
        .execute(&mut conn)
        .unwrap();
    }
    let newer = adminql(dir.path(), &[db], &["migrate", "--check"]);
    assert_eq!(newer.status.code(), Some(1), "{}", text(&newer));
    assert!(
        text(&newer).contains("applied by a newer adminql, unknown to this build: 29990101000000"),
        "{}",
        text(&newer)
    );

    let both = adminql(
        dir.path(),
        &[db],
        &["migrate", "--check", "--allow-primary-down"],
    );
    assert_eq!(both.status.code(), Some(2), "{}", text(&both));
    assert!(
        text(&both).contains("cannot be used with"),
        "{}",
        text(&both)
    );
}

/// SIGTERM while requests are in flight: every request the server has taken in before the
/// signal gets its whole response, and the process exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_under_load_loses_no_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let mut server = Process::spawn(
        dir.path(),
        &[
            ("LISTEN_ADDR", "127.0.0.1:0"),
            ("ADMIN_PASSWORD", "sigterm-password-1"),
            ("LOGIN_RATE_LIMIT_PER_IP", "100000"),
            ("LOGIN_RATE_LIMIT_PER_ACCOUNT", "100000"),
        ],
        &[],
    );
    let addr = server.wait_for_address(Duration::from_secs(30));
    // Sign-ins are slow on purpose (argon2, at most four at a time), so these queue in the
    // server. Raw HTTP/1.1, so the test knows each connection and that its request went out
    // whole.
    let body = json!({ "query": "mutation { login(email: \"admin@localhost\", password: \"sigterm-password-1\") { token } }" }).to_string();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut connections = Vec::new();
    for _ in 0..24 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("send");
        connections.push(stream);
    }
    let ports: Vec<u16> = connections
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect();
    // The signal goes once adminql has read every request (not merely accepted a connection).
    crate::support::wait_until("adminql has read the requests", Duration::from_secs(30), {
        let server_port = addr.port();
        move || crate::support::process::server_has_read(server_port, &ports)
    })
    .await;
    let stopped = tokio::task::spawn_blocking(move || server.terminate());
    for mut stream in connections {
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .expect("a complete response");
        let response = String::from_utf8_lossy(&response);
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let (_, json) = response.split_once("\r\n\r\n").expect("a body");
        let json: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert!(json["data"]["login"]["token"].is_string(), "{json}");
    }
    let (code, log) = tokio::time::timeout(Duration::from_secs(30), stopped)
        .await
        .expect("exits")
        .unwrap();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "stopped listening"
    );
}

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The Node majors `scripts/build-admin-ui` accepts, from its message: "install Node.js 18, 20
/// or 22+" gives [(18, false), (20, false), (22, true)] (true: "and later").
fn accepted_node_majors(phrase: &str) -> Vec<(u32, bool)> {
    phrase
        .trim_start_matches("Node.js ")
        .split([',', ' '])
        .filter(|w| !w.is_empty() && *w != "or")
        .map(|w| (w.trim_end_matches('+').parse().unwrap(), w.ends_with('+')))
        .collect()
}

/// The quick start's run command on a machine with only Rust: `scripts/run` says what it
/// installs, and the README, the Node check, web/'s Vite and the Dockerfile agree with it.
#[test]
fn run_script_and_quick_start_agree() {
    let out = Command::new("bash")
        .args(["scripts/run", "--help"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run scripts/run --help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{help}");
    assert!(help.starts_with("Usage: scripts/run"), "{help}");

    let readme = repo_file("README.md");
    let quick_start = readme
        .split("## Quick start")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a quick start");
    assert!(quick_start.contains("cargo run --release"), "{quick_start}");
    assert!(quick_start.contains("scripts/run"), "{quick_start}");
    // Every package the script installs is named in the quick start and in its --help.
    let script = repo_file("scripts/run");
    let installs: Vec<&str> = script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("apt_install "))
        .flat_map(str::split_whitespace)
        .collect();
    assert!(
        installs.contains(&"nodejs") && installs.contains(&"npm"),
        "{installs:?}"
    );
    for package in &installs {
        assert!(
            quick_start.contains(&format!("`{package}`")),
            "README omits {package}"
        );
        assert!(help.contains(package), "--help omits {package}");
    }

    // The Node versions: one phrase, the same in the check, the README and --help.
    let check = repo_file("scripts/build-admin-ui");
    let phrases: Vec<String> = check
        .split("install Node.js ")
        .skip(1)
        .map(|after| {
            let versions: Vec<&str> = after
                .split_whitespace()
                .take_while(|w| *w == "or" || w.starts_with(|c: char| c.is_ascii_digit()))
                .collect();
            format!(
                "Node.js {}",
                versions.join(" ").trim_end_matches([':', '"'])
            )
        })
        .collect();
    assert!(
        !phrases.is_empty(),
        "build-admin-ui names the Node versions it needs"
    );
    assert!(phrases.iter().all(|p| *p == phrases[0]), "{phrases:?}");
    let phrase = phrases[0].clone();
    let majors = accepted_node_majors(&phrase);
    assert!(
        majors.contains(&(18, false)),
        "Debian 12's Node 18 must do: {phrase}"
    );
    let unwrapped = quick_start.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(unwrapped.contains(&phrase), "README does not say {phrase}");
    let help_unwrapped = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help_unwrapped.contains(&phrase.replace("Node.js ", "")),
        "--help does not say {phrase}"
    );
    let vite = repo_file("web/package.json")
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"vite\": \"").map(str::to_owned))
        .expect("web/package.json has vite");
    let vite_major = vite
        .trim_start_matches(['~', '^'])
        .split('.')
        .next()
        .unwrap();
    assert!(
        unwrapped.contains(&format!("Vite {vite_major}"))
            && check.contains(&format!("Vite {vite_major}")),
        "README and build-admin-ui must name web/'s Vite {vite_major}"
    );
    // The image builds the UI with a Node the check accepts.
    for line in repo_file("Dockerfile")
        .lines()
        .filter(|l| l.starts_with("FROM node:"))
    {
        let major: u32 = line["FROM node:".len()..]
            .split(['-', '.', ' '])
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("Dockerfile: {line}"));
        assert!(
            majors
                .iter()
                .any(|&(m, later)| m == major || (later && major > m)),
            "Dockerfile's {line} is not one of {phrase}"
        );
    }
}
