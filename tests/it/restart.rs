//! A primary that restarts between two of the monitor's checks is not a primary that is down:
//! the monitor's check after it finds its own connection broken, opens a new one in the same
//! check, drops the primary pool's idle connections (broken with the restart) and logs it
//! once; writes never answer `READ_ONLY_MODE` for it, and the first ones after it succeed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use crate::support::code;
use crate::support::gql_at;
use crate::support::mariadb::{self, Server};
use crate::support::process::Process;
use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET, wait_until};

/// Long enough for a restart (a fraction of a second here) to fit between two checks.
const INTERVAL: Duration = Duration::from_secs(2);
/// Room left before the next check, for the check's own delay after its tick.
const MARGIN: Duration = Duration::from_millis(500);

const RECONNECTED: &str = "the primary connection broke and a new one works";
const DOWN: &str = "primary is down";
const BACK: &str = "primary is back";

/// The heartbeat row's time on `server` (UTC), the moment of the monitor's last check.
fn last_beat(server: &Server) -> Option<NaiveDateTime> {
    let text = server
        .sql("SELECT beat_at FROM app.heartbeat WHERE id = 1")
        .ok()?;
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_go_on_when_the_primary_restarts_between_two_checks() {
    let server = Arc::new(
        tokio::task::spawn_blocking(|| mariadb::builder().start_standalone("primary"))
            .await
            .unwrap()
            .expect("MariaDB starts"),
    );
    server.create_app_database("app").unwrap();
    let url = server.url("app", "app");
    let interval = humantime::format_duration(INTERVAL).to_string();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("ADMIN_EMAIL", ADMIN_EMAIL),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("REPLICA_CHECK_INTERVAL", interval.as_str()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut pod = Process::spawn(dir.path(), &env, &["serve"]);
    let base = format!("http://{}", pod.wait_for_address(Duration::from_secs(30)));
    let client = reqwest::Client::new();
    let post = |query: &'static str, variables: Value, token: Option<String>| {
        let (client, base) = (&client, &base);
        async move { gql_at(client, base, token.as_deref(), query, variables).await }
    };
    let login = || {
        post(
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token user { id } } }",
            json!({ "e": ADMIN_EMAIL, "p": ADMIN_PASSWORD }),
            None,
        )
    };
    let rename = |id: Value, token: String, name: &'static str| {
        post(
            "mutation($id: ID!, $n: String) { updateUser(id: $id, name: $n) { name } }",
            json!({ "id": id, "n": name }),
            Some(token),
        )
    };
    // Signed in, and a write done: the primary pool holds idle connections the restart breaks.
    let signed_in = login().await;
    assert!(signed_in["errors"].is_null(), "{signed_in}");
    let token = signed_in["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = signed_in["data"]["login"]["user"]["id"].clone();
    let renamed = rename(me.clone(), token.clone(), "Before").await;
    assert!(renamed["errors"].is_null(), "{renamed}");

    for attempt in 1..=5 {
        // Right after a check (the heartbeat row changed), restart the primary.
        let (s, latest) = (server.clone(), Arc::new(Mutex::new(None)));
        let seen = last_beat(&server);
        let found = latest.clone();
        wait_until("a check", Duration::from_secs(30), move || {
            let now = last_beat(&s);
            *found.lock().unwrap() = now;
            now.is_some() && now != seen
        })
        .await;
        let beat = latest.lock().unwrap().expect("a heartbeat");
        assert!(pod.running(), "adminql exited:\n{}", pod.log);
        let since = pod.log.len();
        let s = server.clone();
        tokio::task::spawn_blocking(move || {
            s.kill();
            s.start()?;
            s.wait_until_up(Duration::from_secs(60))
        })
        .await
        .unwrap()
        .expect("the primary restarts");
        let back = chrono::Utc::now().naive_utc();
        let between_checks = (back - beat).to_std().unwrap_or_default() < INTERVAL - MARGIN;
        if !between_checks {
            // A check may have found it down; once the monitor saw it back, try again.
            pod.wait_for_first(since, &[BACK, RECONNECTED], Duration::from_secs(30));
            continue;
        }
        eprintln!(
            "restart: attempt {attempt} back {:?} after the last check",
            (back - beat).to_std().unwrap_or_default()
        );
        // The next check finds the monitor's connection broken and the server up.
        let first = pod.wait_for_first(since, &[RECONNECTED, DOWN], Duration::from_secs(30));
        assert_eq!(
            first,
            0,
            "a primary that restarted between two checks was declared down:\n{}",
            &pod.log[since..]
        );
        // The first writes after it: an anonymous sign-in and a signed-in mutation.
        let signed_in = login().await;
        assert!(
            signed_in["errors"].is_null(),
            "sign-in after the restart ({}): {signed_in}",
            code(&signed_in)
        );
        let renamed = rename(me, token, "After").await;
        assert_eq!(
            renamed["data"]["updateUser"]["name"],
            "After",
            "a write after the restart ({}): {renamed}",
            code(&renamed)
        );
        assert!(pod.running(), "adminql exited:\n{}", pod.log);
        assert!(
            !pod.log[since..].contains(DOWN),
            "never read-only:\n{}",
            &pod.log[since..]
        );
        return;
    }
    panic!(
        "no restart fell between two checks in 5 attempts:\n{}",
        pod.log
    );
}
