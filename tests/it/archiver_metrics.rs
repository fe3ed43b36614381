//! The binlog archiver's metrics as Prometheus scrapes them in the cluster: the file that
//! `scripts/db-binlog-archive --metrics-file` writes, served by `busybox httpd` with the
//! `httpd.conf` of manifests/mariadb-pitr-scripts.yaml (the archiver pod's `metrics` container).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::pitr_support::{Archiver, caught_up, source_database, wait_for};
use crate::support::mariadb::cluster;

/// The `httpd.conf` key of the generated ConfigMap (a block scalar indented by four spaces).
fn manifest_httpd_conf() -> String {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/mariadb-pitr-scripts.yaml"),
    )
    .unwrap();
    let block = manifest
        .split_once("  httpd.conf: |\n")
        .expect("httpd.conf in the ConfigMap")
        .1;
    block
        .lines()
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", &l[4..]))
        .collect()
}

struct Httpd(Child);

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn archiver_metrics_are_served_as_prometheus_text_by_the_manifests_httpd() {
    let cluster = cluster();
    let primary = &cluster.primary;
    let db = format!("metrics_{}", std::process::id());
    let user = source_database(primary, &db);
    let work = tempfile::tempdir().unwrap();
    let (archive, served) = (work.path().join("binlogs"), work.path().join("metrics"));
    std::fs::create_dir(&served).unwrap();
    let conf = work.path().join("httpd.conf");
    std::fs::write(&conf, manifest_httpd_conf()).unwrap();
    let mut archiver = Archiver::start(
        &user,
        primary.port,
        &archive,
        &served.join("binlog-archiver.prom"),
    );
    wait_for("the archiver to catch up", Duration::from_secs(60), || {
        caught_up(primary, &archive).then_some(())
    });

    // Held until the test ends: nothing else takes it before or after busybox binds it.
    let reserved = mariadb_cluster::Port::reserve().expect("a loopback port");
    let port = reserved.number();
    let _httpd = Httpd(
        Command::new("busybox")
            .args(["httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"])
            .arg(&served)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("busybox (scripts/test installs it)"),
    );
    let answer = wait_for("httpd to serve the lag", Duration::from_secs(30), || {
        TcpStream::connect(("127.0.0.1", port)).ok()?;
        let answer = get(port, "/binlog-archiver.prom");
        answer
            .contains("\nadminql_binlog_archiver_lag_seconds ")
            .then_some(answer)
    });
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Prometheus 3 refuses a scrape without a text format Content-Type it knows.
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain;version=0.0.4"),
        "{head}"
    );
    for name in [
        "adminql_binlog_archiver_lag_seconds",
        "adminql_binlog_archiver_last_archived_timestamp_seconds",
        "adminql_binlog_archiver_up",
    ] {
        assert!(
            body.contains(&format!("# TYPE {name} gauge\n{name} ")),
            "{name}: {body}"
        );
    }
    archiver.kill("-TERM");
}
