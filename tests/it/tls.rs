//! TLS to MariaDB (`DB_TLS_MODE`, `DB_TLS_CA_FILE`) against real servers that offer
//! certificates this test issues (rcgen): what adminql's own sessions on them are, and which
//! servers each mode refuses, at start and with one clear line.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use adminql::config::Config;
use adminql::db::connect::connect_mysql;
use adminql::db::{DbConn, Target};
use diesel::sql_types::Text;
use diesel_async::{AsyncMysqlConnection, RunQueryDsl};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use serde_json::json;

use crate::support::TestApp;
use crate::support::mariadb::{self, Builder, Cluster, Server};

/// A test CA, and the PEM files of the certificates it issues, in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "adminql test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key"))
            .expect("CA certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write CA");
        Pki { dir, ca }
    }

    fn ca_file(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses); returns the
    /// tests' MariaDB servers, offering it.
    fn servers(&self, label: &str, names: &[&str]) -> Builder {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("server params");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        let cert = params
            .signed_by(&key, &self.ca)
            .expect("server certificate");
        let path = |ext: &str| -> PathBuf { self.dir.path().join(format!("{label}.{ext}")) };
        std::fs::write(path("crt"), cert.pem()).expect("write certificate");
        std::fs::write(path("key"), key.serialize_pem()).expect("write key");
        mariadb::builder().tls(&path("crt"), &path("key"))
    }
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(Pki::new)
}

/// A server offering a certificate from the test CA that names another host only.
fn elsewhere() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let server = pki()
            .servers("elsewhere", &["db.elsewhere.test"])
            .start_standalone("elsewhere")
            .expect("TLS server starts");
        server
            .create_app_database("tls_elsewhere")
            .expect("app user");
        server
    })
}

/// A user of the shared (plaintext-only) cluster's primary, made once.
fn plaintext_url() -> String {
    static MADE: OnceLock<()> = OnceLock::new();
    let cluster = mariadb::cluster();
    MADE.get_or_init(|| {
        cluster
            .primary
            .create_app_database("tls_plain")
            .expect("app user")
    });
    cluster.primary.url("tls_plain", "tls_plain")
}

/// TLS settings as the binary would read them.
fn settings(mode: Option<&str>, ca: bool) -> Config {
    let ca = ca.then(|| pki().ca_file());
    let mode = mode.map(str::to_owned);
    Config::from_lookup(move |k| match k {
        "DATABASE_URL" => Some("mysql://u:p@127.0.0.1/app".into()),
        "JWT_SECRET" => Some(crate::support::JWT_SECRET.into()),
        "DB_TLS_MODE" => mode.clone(),
        "DB_TLS_CA_FILE" => ca.clone(),
        _ => None,
    })
    .expect("valid TLS settings")
}

async fn connect(url: &str, mode: Option<&str>, ca: bool) -> Result<AsyncMysqlConnection, String> {
    let config = settings(mode, ca);
    connect_mysql(url, &config.database.tls, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())
}

#[derive(diesel::QueryableByName)]
struct Status {
    #[diesel(sql_type = Text, column_name = "Value")]
    value: String,
}

/// `SHOW STATUS LIKE 'Ssl_cipher'` on a session: empty when it is plaintext.
async fn ssl_cipher(conn: &mut AsyncMysqlConnection) -> String {
    let rows: Vec<Status> = diesel::sql_query("SHOW STATUS LIKE 'Ssl_cipher'")
        .load(conn)
        .await
        .expect("SHOW STATUS");
    rows.into_iter().next().expect("an Ssl_cipher row").value
}

/// Connections `user` has made to `server` since it started, and how many of them were TLS
/// (MariaDB userstat); they cover every session adminql opened, closed ones included.
fn connections(server: &Server, user: &str) -> (u64, u64) {
    let row = server
        .sql(&format!(
            "SELECT TOTAL_CONNECTIONS, TOTAL_SSL_CONNECTIONS
             FROM information_schema.USER_STATISTICS WHERE USER = '{user}'"
        ))
        .expect("USER_STATISTICS");
    let numbers: Vec<u64> = row
        .split_whitespace()
        .map(|n| n.parse().expect("a count"))
        .collect();
    match numbers[..] {
        [total, tls] => (total, tls),
        [] => (0, 0),
        _ => panic!("unexpected USER_STATISTICS row: {row}"),
    }
}

/// [`migrate_refused`] with the test JWT secret, so that only the TLS settings are at fault.
fn migrate_refused(env: &[(&str, &str)]) -> String {
    let mut with_secret = vec![("JWT_SECRET", crate::support::JWT_SECRET)];
    with_secret.extend_from_slice(env);
    crate::support::process::migrate_refused(&with_secret)
}

/// Every session of an app on a TLS cluster is encrypted: the pools (asked through adminql's
/// own pool), the replica monitor's probes and the migration run (counted by the servers).
#[tokio::test(flavor = "multi_thread")]
async fn required_and_verify_identity_encrypt_every_session_on_primary_and_replica() {
    let servers = pki().servers("cluster", &["127.0.0.1", "localhost"]);
    let cluster = Arc::new(
        tokio::task::spawn_blocking(move || Cluster::start(servers))
            .await
            .expect("cluster"),
    );
    let ca = pki().ca_file();
    for (mode, ca) in [("required", None), ("verify_identity", Some(ca.as_str()))] {
        let mut builder = TestApp::mysql()
            .cluster(cluster.clone())
            .replicas(1)
            .env("DB_TLS_MODE", mode);
        if let Some(ca) = ca {
            builder = builder.env("DB_TLS_CA_FILE", ca);
        }
        let app = builder.start().await;
        let user = app.database.clone().expect("a MariaDB user");

        let body = app.gql("{ allUsers { email } }", json!({})).await;
        assert!(body["errors"].is_null(), "{mode}: {body}");
        let (DbConn::Mysql(mut primary), Target::Primary) =
            app.state.db.write().await.expect("primary")
        else {
            panic!("{mode}: not a MySQL primary connection");
        };
        assert!(
            !ssl_cipher(&mut primary).await.is_empty(),
            "{mode}: primary session is plaintext"
        );
        let (DbConn::Mysql(mut replica), Target::Replica(_)) =
            app.state.db.read().await.expect("replica")
        else {
            panic!("{mode}: reads did not go to the replica");
        };
        assert!(
            !ssl_cipher(&mut replica).await.is_empty(),
            "{mode}: replica session is plaintext"
        );
        drop((primary, replica));

        // The replica's sessions: the read pool's and the monitor's probe (it probes every
        // REPLICA_CHECK_INTERVAL), so wait until both have connected.
        let deadline = Instant::now() + Duration::from_secs(30);
        let c = cluster.clone();
        let u = user.clone();
        let (on_primary, on_replica) = tokio::task::spawn_blocking(move || {
            loop {
                let on_replica = connections(&c.replica, &u);
                if on_replica.0 >= 2 || Instant::now() > deadline {
                    return (connections(&c.primary, &u), on_replica);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
        .await
        .expect("join");
        assert!(
            on_replica.0 >= 2,
            "{mode}: the monitor never probed the replica: {on_replica:?}"
        );
        // The primary: the migration run, the pool, the monitor's heartbeat.
        assert!(on_primary.0 >= 3, "{mode}: {on_primary:?}");
        assert_eq!(
            on_primary.0, on_primary.1,
            "{mode}: plaintext sessions on the primary"
        );
        assert_eq!(
            on_replica.0, on_replica.1,
            "{mode}: plaintext sessions on the replica"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_identity_refuses_a_certificate_for_another_host_at_start() {
    let server = tokio::task::spawn_blocking(elsewhere)
        .await
        .expect("server");
    let url = server.url("tls_elsewhere", "tls_elsewhere");
    let ca = pki().ca_file();
    let line = tokio::task::spawn_blocking({
        let (url, ca) = (url.clone(), ca.clone());
        move || {
            migrate_refused(&[
                ("DATABASE_URL", &url),
                ("DB_TLS_MODE", "verify_identity"),
                ("DB_TLS_CA_FILE", &ca),
            ])
        }
    })
    .await
    .expect("join");
    let expected = format!(
        "adminql: DATABASE_URL: cannot migrate mysql://tls_elsewhere:***@127.0.0.1:{}/tls_elsewhere: \
         TLS handshake failed (DB_TLS_MODE=verify_identity, DB_TLS_CA_FILE={ca}): invalid peer certificate: \
         certificate not valid for name \"127.0.0.1\"",
        server.port
    );
    assert!(line.starts_with(&expected), "{line}");
    assert!(line.contains("db.elsewhere.test"), "{line}");

    // The chain is good: only the name is wrong. So a mode that does not check the
    // certificate connects over TLS, and every mode that checks it refuses, without falling
    // back to plaintext.
    let mut conn = connect(&url, Some("required"), false)
        .await
        .expect("required, no CA");
    assert!(!ssl_cipher(&mut conn).await.is_empty());
    for mode in ["required", "preferred"] {
        let refused = connect(&url, Some(mode), true)
            .await
            .err()
            .unwrap_or_default();
        assert!(
            refused.contains("certificate not valid for name"),
            "{mode}: {refused}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_modes_refuse_a_plaintext_only_server_at_start() {
    let url = tokio::task::spawn_blocking(plaintext_url)
        .await
        .expect("join");
    let ca = pki().ca_file();
    for (mode, ca) in [("required", None), ("verify_identity", Some(ca.as_str()))] {
        let mut env = vec![("DATABASE_URL", url.as_str()), ("DB_TLS_MODE", mode)];
        env.extend(ca.map(|ca| ("DB_TLS_CA_FILE", ca)));
        let line = tokio::task::block_in_place(|| migrate_refused(&env));
        assert!(
            line.starts_with("adminql: DATABASE_URL: cannot migrate mysql://tls_plain:***@")
                && line.contains(&format!(
                    ": the server does not offer TLS (DB_TLS_MODE={mode}"
                )),
            "{mode}: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn preferred_uses_tls_where_offered_and_plaintext_elsewhere() {
    let tls_server = tokio::task::spawn_blocking(elsewhere)
        .await
        .expect("server");
    let plaintext = tokio::task::spawn_blocking(plaintext_url)
        .await
        .expect("join");
    // `preferred` is the default.
    for mode in [None, Some("preferred")] {
        let mut conn = connect(
            &tls_server.url("tls_elsewhere", "tls_elsewhere"),
            mode,
            false,
        )
        .await
        .expect("preferred connects to a TLS server");
        assert!(
            !ssl_cipher(&mut conn).await.is_empty(),
            "{mode:?}: plaintext to a TLS server"
        );
        let mut conn = connect(&plaintext, mode, false)
            .await
            .expect("preferred connects to a plaintext server");
        assert_eq!(ssl_cipher(&mut conn).await, "", "{mode:?}");
    }
    let mut conn = connect(&plaintext, Some("disabled"), false)
        .await
        .expect("disabled");
    assert_eq!(ssl_cipher(&mut conn).await, "");
}

#[test]
fn a_bad_ca_file_is_one_line_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").expect("write");
    let not_pem = not_pem.display().to_string();
    for (ca, expected) in [
        (
            "/nonexistent/ca.pem",
            "adminql: DB_TLS_CA_FILE: cannot read /nonexistent/ca.pem: ",
        ),
        (not_pem.as_str(), "adminql: DB_TLS_CA_FILE: "),
    ] {
        let line = migrate_refused(&[
            ("DATABASE_URL", "mysql://u:p@127.0.0.1:1/app"),
            ("DB_TLS_MODE", "verify_identity"),
            ("DB_TLS_CA_FILE", ca),
        ]);
        assert!(line.starts_with(expected), "{line}");
        assert!(
            ca.starts_with("/nonexistent")
                || line.ends_with("holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
            "{line}"
        );
    }
    let line = migrate_refused(&[
        ("DATABASE_URL", "mysql://u:p@127.0.0.1:1/app"),
        ("DB_TLS_MODE", "verify_identity"),
    ]);
    assert!(
        line.starts_with("adminql: DB_TLS_MODE: verify_identity needs DB_TLS_CA_FILE"),
        "{line}"
    );
}
