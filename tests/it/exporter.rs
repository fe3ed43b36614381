//! The database tier's metrics are real: Debian's `prometheus-mysqld-exporter`, run against a
//! test primary and replica with the account `initdb-exporter.sh` (manifests/mariadb-configmap.yaml)
//! creates and the collector flags of the sidecar, exports every `mysql_*` series that an alert
//! (manifests/monitoring/*.yaml) or the dashboard (manifests/monitoring/dashboards/*.json) names,
//! and its replication gauges follow the replica's threads.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::mariadb::{Cluster, Server};
use crate::support::process::free_port;

const EXPORTER_PASSWORD: &str = "exporter-test-pw";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The exporter binary: $MYSQLD_EXPORTER, the copy scripts/check-monitoring unpacks, or the
/// Debian package's.
fn exporter_binary() -> PathBuf {
    let candidates = [
        std::env::var_os("MYSQLD_EXPORTER").map(PathBuf::from),
        Some(repo().join("target/tools/usr/bin/prometheus-mysqld-exporter")),
        Some(PathBuf::from("/usr/bin/prometheus-mysqld-exporter")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .expect(
            "prometheus-mysqld-exporter not found: scripts/test installs it \
         (scripts/check-monitoring --install-tools), or set MYSQLD_EXPORTER",
        )
}

/// The value of a block-scalar key of the MariaDB ConfigMap, as the pod sees the file.
fn configmap_script(key: &str) -> String {
    let text = std::fs::read_to_string(repo().join("manifests/mariadb-configmap.yaml"))
        .expect("read manifests/mariadb-configmap.yaml");
    let mut lines = text.lines().skip_while(|l| *l != format!("  {key}: |"));
    assert!(lines.next().is_some(), "mariadb-config has no key {key}");
    lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs initdb-exporter.sh the way the image's entrypoint sources it (its helpers stubbed:
/// `docker_process_sql` hands the SQL back) and executes the SQL as root on `server`.
fn create_exporter_account(server: &Server) {
    let script = configmap_script("initdb-exporter.sh");
    let prelude = r#"
docker_sql_escape_string_literal() { local s=${1//\\/\\\\}; printf '%s' "${s//\'/\\\'}"; }
mysql_note() { :; }
docker_process_sql() { cat; }
"#;
    let out = Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(format!("{prelude}\n{script}"))
        .env("EXPORTER_USER", "exporter")
        .env("EXPORTER_PASSWORD", EXPORTER_PASSWORD)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "initdb-exporter.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sql = String::from_utf8(out.stdout).expect("utf-8 SQL");
    assert!(sql.contains("CREATE USER"), "no account created by: {sql}");
    server.sql(&sql).expect("the exporter account's SQL");
}

/// The `--collect.*` flags of the sidecar, the same in both StatefulSets.
fn sidecar_collect_flags() -> Vec<String> {
    let flags = |file: &str| -> Vec<String> {
        std::fs::read_to_string(repo().join("manifests").join(file))
            .expect("read StatefulSet")
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- "))
            .filter(|a| a.starts_with("--collect."))
            .map(str::to_owned)
            .collect()
    };
    let primary = flags("mariadb-primary.yaml");
    assert_eq!(
        primary,
        flags("mariadb-replica.yaml"),
        "sidecar flags differ"
    );
    primary
}

/// Every `mysql_*` metric name the monitoring files use.
fn used_series() -> BTreeSet<String> {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["manifests/monitoring", "manifests/monitoring/dashboards"] {
        for entry in std::fs::read_dir(repo().join(dir)).expect("read monitoring dir") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "json") {
                files.push(path);
            }
        }
    }
    let mut names = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read monitoring file");
        for (i, _) in text.match_indices("mysql_") {
            let word_start = i == 0 || !is_name_char(text.as_bytes()[i - 1]);
            let end = text[i..]
                .find(|c: char| !is_name_char(c as u8))
                .map_or(text.len(), |n| i + n);
            if word_start && end > i + "mysql_".len() {
                names.insert(text[i..end].to_owned());
            }
        }
    }
    names
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// One exporter process, killed when dropped.
struct Exporter {
    child: Child,
    url: String,
}

impl Exporter {
    fn start(server: &Server) -> Exporter {
        let port = free_port();
        let child = Command::new(exporter_binary())
            .env(
                "DATA_SOURCE_NAME",
                format!(
                    "exporter:{EXPORTER_PASSWORD}@tcp(127.0.0.1:{})/",
                    server.port
                ),
            )
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(sidecar_collect_flags())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-mysqld-exporter");
        Exporter {
            child,
            url: format!("http://127.0.0.1:{port}/metrics"),
        }
    }

    /// The exposition once the exporter reaches the server; `(name, labels, value)` per sample.
    async fn scrape(&self) -> Vec<(String, String, f64)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(resp) = reqwest::get(&self.url).await
                && let Ok(text) = resp.text().await
                && text.lines().any(|l| l == "mysql_up 1")
            {
                return parse(&text);
            }
            assert!(
                Instant::now() < deadline,
                "{} never reported mysql_up 1",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            Some((name.to_owned(), labels.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn value(samples: &[(String, String, f64)], name: &str) -> Option<f64> {
    samples.iter().find(|(n, _, _)| n == name).map(|s| s.2)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_exporter_exports_every_mysql_series_the_alerts_and_dashboard_use() {
    let used = used_series();
    for needed in [
        "mysql_up",
        "mysql_slave_status_slave_io_running",
        "mysql_slave_status_slave_sql_running",
        "mysql_slave_status_seconds_behind_master",
        "mysql_global_status_threads_connected",
        "mysql_global_variables_max_connections",
    ] {
        assert!(
            used.contains(needed),
            "no alert or panel uses {needed}: {used:?}"
        );
    }

    let cluster = tokio::task::spawn_blocking(Cluster::private)
        .await
        .expect("cluster");
    create_exporter_account(&cluster.primary);
    create_exporter_account(&cluster.replica);
    let primary = Exporter::start(&cluster.primary);
    let replica = Exporter::start(&cluster.replica);
    let on_primary = primary.scrape().await;
    let on_replica = replica.scrape().await;

    // The account's grants are enough for every collector the sidecar runs.
    for (role, samples) in [("primary", &on_primary), ("replica", &on_replica)] {
        assert_eq!(
            value(samples, "mysql_exporter_last_scrape_error"),
            Some(0.0),
            "a collector failed on the {role} (missing privilege?)"
        );
    }
    let exported: BTreeSet<&str> = on_primary
        .iter()
        .chain(&on_replica)
        .map(|(n, _, _)| n.as_str())
        .collect();
    let missing: Vec<&String> = used
        .iter()
        .filter(|n| !exported.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "series used by alerts or the dashboard but not exported: {missing:?}"
    );

    // Replication: running threads read 1 on the replica; the primary has no replication status.
    assert_eq!(
        value(&on_replica, "mysql_slave_status_slave_io_running"),
        Some(1.0)
    );
    assert_eq!(
        value(&on_replica, "mysql_slave_status_slave_sql_running"),
        Some(1.0)
    );
    assert!(value(&on_primary, "mysql_slave_status_slave_io_running").is_none());

    // A stopped SQL thread reads 0, which MariaDBReplicationSQLThreadStopped alerts on.
    cluster.replica.sql("STOP SLAVE SQL_THREAD").expect("stop");
    let deadline = Instant::now() + Duration::from_secs(30);
    while value(
        &replica.scrape().await,
        "mysql_slave_status_slave_sql_running",
    ) != Some(0.0)
    {
        assert!(Instant::now() < deadline, "the SQL thread never read 0");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        value(
            &replica.scrape().await,
            "mysql_slave_status_slave_io_running"
        ),
        Some(1.0)
    );
}
