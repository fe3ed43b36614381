//! The admin UI at `/admin`: its HTTP contract (strict CSP, precompressed content-hashed
//! assets, caching), and a person's session in a real browser: `tests/browser/admin-ui.mjs`
//! drives Debian's headless Chromium against the real server, on SQLite and on MariaDB with
//! replicas that stop applying and then a stopped primary. Screenshots of every step go to
//! `target/admin-ui-screenshots/<backend>/<phase>-NN-<step>.png`; each run prints where.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

const READER_EMAIL: &str = "reader@example.com";
const READER_PASSWORD: &str = "reader-password-123";
const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);
/// Accounts the browser finds already there, for sorting, filtering and paging:
/// `member-01@example.com` … `member-06@example.com`, named `Member F` … `Member A` (so the
/// names sort the other way round from the emails); the last one is inactive.
const MEMBERS: usize = 6;
/// The member the browser deletes.
const DELETED_MEMBER: &str = "member-01@example.com";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn screenshots(backend: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/admin-ui-screenshots/{backend}"))
}

/// Runs one phase of the browser script; panics with its output unless every check passed.
/// Says where the screenshots are on the real stderr, which the test harness does not
/// capture, so a passing run's log names them too.
async fn run_browser(app: &TestApp, backend: &str, phase: &str, extra: &[(&str, String)]) {
    let dir = browser_dir();
    if phase == "main" {
        let _ = std::fs::remove_dir_all(screenshots(backend));
    }
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules is missing: run scripts/test (it runs npm install there)"
    );
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "/usr/bin/chromium is missing: run scripts/test (it installs Debian's chromium)"
    );
    let mut command = tokio::process::Command::new("node");
    command
        .arg("admin-ui.mjs")
        .current_dir(&dir)
        .kill_on_drop(true)
        .env("ADMINQL_URL", &app.base)
        .env("ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("READER_EMAIL", READER_EMAIL)
        .env("READER_PASSWORD", READER_PASSWORD)
        .env("MEMBERS", members().to_string())
        .env("DELETE_EMAIL", DELETED_MEMBER)
        .env("SCREENSHOTS", screenshots(backend))
        .env("PHASE", phase);
    for (key, value) in extra {
        command.env(key, value);
    }
    let out = tokio::time::timeout(BROWSER_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| {
            panic!("the browser checks ({phase}) did not finish in {BROWSER_TIMEOUT:?}")
        })
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "browser checks ({backend}, {phase}) failed; screenshots in {}:\n{stdout}\n{}",
        screenshots(backend).display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let passed = stdout.lines().filter(|l| l.starts_with("ok - ")).count();
    let _ = writeln!(
        std::io::stderr(),
        "admin UI in a browser ({backend}, {phase}): passed ({passed} checks); screenshots in {}",
        screenshots(backend).display()
    );
}

/// The members as the browser script reads them (`MEMBERS`).
fn members() -> Value {
    (1..=MEMBERS)
        .map(|i| {
            json!({
                "email": format!("member-{i:02}@example.com"),
                "name": format!("Member {}", char::from(b'A' + (MEMBERS - i) as u8)),
                "active": i < MEMBERS,
            })
        })
        .collect()
}

/// What the browser finds on arrival: a role with user:read, role:read and permission:read
/// (no user:write, no audit:read, no system:read), the reader account holding it, signed in
/// once (an audit entry by someone other than the admin), and the members.
async fn create_fixtures(app: &TestApp) {
    let perms = app
        .gql("{ allPermissions(perPage: 100) { id code } }", json!({}))
        .await;
    let ids: Vec<Value> = perms["data"]["allPermissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .filter(|p| {
            ["user:read", "role:read", "permission:read"].contains(&p["code"].as_str().unwrap())
        })
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(ids.len(), 3, "{perms}");
    let role = app
        .gql(
            "mutation($p: [ID!]) { createRole(name: \"viewer\", description: \"Reads users and roles\", permissionsIds: $p) { id } }",
            json!({ "p": ids }),
        )
        .await;
    let role_id = role["data"]["createRole"]["id"].clone();
    assert!(role_id.is_string(), "{role}");
    let user = app
        .gql(
            "mutation($e: String!, $p: String!, $r: [ID!]) { createUser(email: $e, name: \"Reader\", password: $p, rolesIds: $r) { id } }",
            json!({ "e": READER_EMAIL, "p": READER_PASSWORD, "r": [role_id] }),
        )
        .await;
    assert!(user["errors"].is_null(), "{user}");
    app.login(READER_EMAIL, READER_PASSWORD).await;
    for member in members().as_array().expect("members") {
        let user = app
            .gql(
                "mutation($e: String!, $n: String!, $a: Boolean) { createUser(email: $e, name: $n, password: \"member-password-123\", active: $a) { id } }",
                json!({ "e": member["email"], "n": member["name"], "a": member["active"] }),
            )
            .await;
        assert!(user["errors"].is_null(), "{user}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_ui_is_served_precompressed_with_a_strict_csp() {
    let app = TestApp::sqlite().start().await;
    let page = app.client.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let csp = header(&page, "content-security-policy");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    let nonce = html
        .split("name=\"csp-nonce\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries its nonce");
    assert!(
        csp.contains(&format!("'nonce-{nonce}'")),
        "{csp} vs {nonce}"
    );
    let again = app.client.get(app.url("/admin/")).send().await.unwrap();
    assert!(
        !header(&again, "content-security-policy").contains(nonce),
        "a nonce is used once"
    );

    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("index.html loads a script");
    assert!(script.starts_with("/admin/assets/index-"), "{script}");
    let get = |encoding: &'static str| {
        let mut request = app.client.get(app.url(script));
        if !encoding.is_empty() {
            request = request.header("accept-encoding", encoding);
        }
        request.send()
    };
    let br = get("gzip, deflate, br").await.unwrap();
    assert_eq!(header(&br, "content-encoding"), "br");
    assert_eq!(
        header(&br, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        header(&br, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header(&br, "vary"), "accept-encoding");
    let br_len = br.bytes().await.unwrap().len();
    let gzip = get("gzip").await.unwrap();
    assert_eq!(header(&gzip, "content-encoding"), "gzip");
    let gzip_body = gzip.bytes().await.unwrap();
    assert_eq!(&gzip_body[..2], &[0x1f, 0x8b], "a gzip stream");
    let raw = get("").await.unwrap();
    assert_eq!(header(&raw, "content-encoding"), "");
    let raw_len = raw.bytes().await.unwrap().len();
    assert!(
        br_len < gzip_body.len() && gzip_body.len() < raw_len,
        "{br_len} {} {raw_len}",
        gzip_body.len()
    );

    let missing = app
        .client
        .get(app.url("/admin/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let graphiql = app.client.get(app.url("/graphiql")).send().await.unwrap();
    let csp = header(&graphiql, "content-security-policy");
    assert!(
        csp.contains("script-src 'self';") && !csp.contains("unsafe"),
        "{csp}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_ui_in_a_browser_sqlite() {
    // Short-lived access tokens: the UI must refresh one during the run, and one runs out
    // while its refresh token is revoked.
    let app = TestApp::sqlite()
        .env("ACCESS_TOKEN_TTL", "8s")
        .start()
        .await;
    create_fixtures(&app).await;
    run_browser(
        &app,
        "sqlite",
        "main",
        &[("SHORT_ACCESS_TOKENS", "1".into())],
    )
    .await;
}

async fn read_only(app: &TestApp) -> bool {
    app.gql("{ systemStatus { readOnly } }", json!({})).await["data"]["systemStatus"]["readOnly"]
        == true
}

/// On MariaDB both replicas the app reads from stop applying writes for the whole session,
/// while staying in rotation: every change the browser shows right after a save (a new user,
/// a deleted one) was read from the primary because of the adminql_ct cookie; without it,
/// every list would come from a replica that never saw the change. Then the primary is
/// stopped: the banner appears.
#[tokio::test(flavor = "multi_thread")]
async fn admin_ui_in_a_browser_mysql() {
    let cluster = crate::support::private_cluster().await;
    let replicas = [&cluster.replica, &cluster.replica2];
    let app = TestApp::mysql()
        .cluster(cluster.clone())
        .replicas(replicas.len())
        .env("REPLICA_CHECK_INTERVAL", "200ms")
        // Stale replicas stay in rotation for the whole run: only the cookie keeps reads fresh.
        .env("REPLICA_MAX_LAG", "1h")
        .start()
        .await;
    create_fixtures(&app).await;
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.wait_for_replicas(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("replicas caught up");
    for replica in replicas {
        replica.sql("STOP SLAVE SQL_THREAD").unwrap();
    }
    let in_rotation = || async {
        let status = app
            .gql(
                "{ systemStatus { replicas { name inRotation } } }",
                json!({}),
            )
            .await;
        let all = status["data"]["systemStatus"]["replicas"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            all.len(),
            replicas.len(),
            "the app reads from exactly the replicas stopped here: {status}"
        );
        assert!(
            all.iter().all(|r| r["inRotation"] == true),
            "a stale replica left rotation, so reads went to the primary anyway: {status}"
        );
    };
    in_rotation().await;

    run_browser(
        &app,
        "mysql",
        "main",
        &[("EXPECT_REPLICAS", replicas.len().to_string())],
    )
    .await;

    // The browser saw its new user at once and its deleted member gone, yet no replica it
    // reads from applied either change, and every one stayed in rotation.
    let db = app.database.clone().unwrap();
    for replica in replicas {
        let seen = replica
            .sql(&format!(
                "SELECT CONCAT(SUM(email LIKE 'ui-%'), ',', SUM(email = '{DELETED_MEMBER}')) FROM `{db}`.users"
            ))
            .unwrap();
        assert_eq!(seen.trim(), "0,1", "{} was not lagging", replica.name);
    }
    in_rotation().await;

    for replica in replicas {
        replica.sql("START SLAVE SQL_THREAD").unwrap();
    }
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.wait_for_replicas(Duration::from_secs(20)))
        .await
        .unwrap()
        .expect("replicas caught up");
    let session = app
        .gql_anon(
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token refreshToken expiresAt user { id email name } } }",
            json!({ "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD }),
        )
        .await["data"]["login"]
        .clone();
    assert!(session["token"].is_string(), "{session}");
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.wait_for_replicas(Duration::from_secs(20)))
        .await
        .unwrap()
        .expect("replica has the session");
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.primary.kill())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !read_only(&app).await {
        assert!(Instant::now() < deadline, "read-only mode never began");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run_browser(
        &app,
        "mysql",
        "read-only",
        &[("SESSION", session.to_string())],
    )
    .await;
}
