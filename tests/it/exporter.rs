//! The database tier's metrics are real: mysqld-exporter, run against a test primary and replica
//! with the account `initdb-exporter.sh` (manifests/mariadb-configmap.yaml) creates and the
//! sidecar's own command line (the `exporter` container of both StatefulSets: every argument and
//! its password variable, `MYSQLD_EXPORTER_PASSWORD`), exports every `mysql_*` series that an
//! alert (manifests/monitoring/*.yaml) or the dashboard (manifests/monitoring/dashboards/*.json)
//! names, and its replication gauges follow the replica's threads.
//!
//! The binary is Debian's `prometheus-mysqld-exporter` 0.17.2 (from Debian 13, unpacked by
//! `scripts/check-monitoring --install-tools`), the upstream version of the sidecar image, which
//! the test checks. Two arguments are changed, both addresses: `--mysqld.address` gets the test
//! server's port instead of 3306, `--web.listen-address` a loopback port held for the test
//! (`mariadb_cluster::Port`) instead of `:9104`.
//! Not verified here: the image itself (quay.io's build of v0.17.2, not Debian's build of the same
//! source), that the pod reaches MariaDB on its loopback, and that the Secret key reaches the
//! variable (scripts/check-deploy checks that the key exists).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mariadb_cluster::Port;

use crate::support::mariadb::{Cluster, Server};

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

/// The `exporter` container of a StatefulSet's pod, as JSON, read with PyYAML (scripts/test
/// installs it).
fn exporter_container(file: &str) -> serde_json::Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, yaml\n\
             sts = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d['kind'] == 'StatefulSet'][0]\n\
             print(json.dumps([c for c in sts['spec']['template']['spec']['containers'] if c['name'] == 'exporter'][0]))",
        )
        .arg(repo().join("manifests").join(file))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The sidecar's image, arguments and environment variable names, the same in both StatefulSets.
fn sidecar() -> (String, Vec<String>, Vec<String>) {
    let read = |file: &str| {
        let c = exporter_container(file);
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| {
                            s["name"]
                                .as_str()
                                .map_or_else(|| s.as_str().unwrap().to_owned(), str::to_owned)
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        (
            c["image"].as_str().unwrap().to_owned(),
            strings(&c["args"]),
            strings(&c["env"]),
        )
    };
    let primary = read("mariadb-primary.yaml");
    assert_eq!(primary, read("mariadb-replica.yaml"), "the sidecars differ");
    primary
}

/// The upstream version the binary reports (`mysqld_exporter, version 0.17.2 ...`).
fn exporter_version() -> String {
    let out = Command::new(exporter_binary())
        .arg("--version")
        .output()
        .expect("run the exporter");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.split_once("version ")
        .and_then(|(_, v)| v.split_whitespace().next())
        .unwrap_or_else(|| panic!("no version in {text}"))
        .to_owned()
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
    /// Its listening port, held for it: no other holder takes it, and the kernel never hands
    /// it out, between the reservation and the exporter's bind.
    _port: Port,
}

impl Exporter {
    fn start(server: &Server) -> Exporter {
        let reserved = Port::reserve().expect("a loopback port");
        let port = reserved.number();
        let (_, args, env) = sidecar();
        assert_eq!(
            env,
            ["MYSQLD_EXPORTER_PASSWORD"],
            "the sidecar's environment"
        );
        let args: Vec<String> = args
            .into_iter()
            .map(|a| match a.as_str() {
                "--mysqld.address=127.0.0.1:3306" => {
                    format!("--mysqld.address=127.0.0.1:{}", server.port)
                }
                "--web.listen-address=:9104" => format!("--web.listen-address=127.0.0.1:{port}"),
                _ => a,
            })
            .collect();
        assert!(
            args.iter()
                .any(|a| a.ends_with(&format!(":{}", server.port)))
                && args.iter().any(|a| a.ends_with(&format!(":{port}"))),
            "the sidecar's addresses changed: {args:?}"
        );
        let child = Command::new(exporter_binary())
            .env_remove("DATA_SOURCE_NAME")
            .env("MYSQLD_EXPORTER_PASSWORD", EXPORTER_PASSWORD)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-mysqld-exporter");
        Exporter {
            child,
            url: format!("http://127.0.0.1:{port}/metrics"),
            _port: reserved,
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
    // The binary is the sidecar image's upstream version.
    let (image, _, _) = sidecar();
    assert_eq!(
        image,
        format!("quay.io/prometheus/mysqld-exporter:v{}", exporter_version()),
        "the sidecar's image and the tested exporter differ"
    );
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

    // The account's grants are enough for every collector the sidecar runs (each reports its own
    // success since 0.15).
    for (role, samples) in [("primary", &on_primary), ("replica", &on_replica)] {
        let collectors: Vec<&(String, String, f64)> = samples
            .iter()
            .filter(|(n, _, _)| n == "mysql_exporter_collector_success")
            .collect();
        assert!(
            !collectors.is_empty(),
            "no collector reported on the {role}"
        );
        let failed: Vec<&String> = collectors
            .iter()
            .filter(|(_, _, v)| *v != 1.0)
            .map(|(_, labels, _)| labels)
            .collect();
        assert!(
            failed.is_empty(),
            "collectors failed on the {role} (missing privilege?): {failed:?}"
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
