//! The restore drill's steps (`scripts/db-restore-drill`, run by the CronJob in
//! manifests/mariadb-restore-drill.yaml) on real MariaDB: restore the newest dump plus the binlog
//! archive into a fresh database, check row counts, and push the result in Prometheus text to a
//! Pushgateway stand-in (a loopback listener that records the request).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use crate::pitr_support::{
    Archiver, backup, caught_up, ids, insert, run, source_database, text, wait_for,
};
use crate::support::mariadb::cluster;

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

#[test]
fn restore_drill_restores_the_dump_and_binlogs_checks_rows_and_pushes_its_result() {
    let cluster = cluster();
    let primary = &cluster.primary;
    let db = format!("drill_{}", std::process::id());
    let user = source_database(primary, &db);
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("binlogs");
    let mut archiver = Archiver::start(&user, primary.port, &archive, &work.path().join("m.prom"));
    wait_for("the archiver to catch up", Duration::from_secs(60), || {
        caught_up(primary, &archive).then_some(())
    });
    backup(
        &user,
        primary.port,
        &db,
        &work.path().join(format!("{db}-20990101T000000Z.sql.gz")),
    );
    insert(primary, &db, 1..=10, "A");
    wait_for(
        "the archiver to stream the rows",
        Duration::from_secs(60),
        || caught_up(primary, &archive).then_some(()),
    );
    archiver.kill("-TERM");

    let target = format!("{db}_d");
    let port = primary.port.to_string();
    let conn = [
        "--port",
        &port,
        "--user",
        &user,
        "--password-env",
        "TEST_DB_PASSWORD",
    ];
    let work_dir = work.path().to_str().unwrap();
    let step = |name: &str, extra: &[&str]| {
        let args = [
            &[name, "--work", work_dir, "--database", &target][..],
            &conn,
            extra,
        ]
        .concat();
        run("db-restore-drill", &args)
    };
    let out = step("restore", &[]);
    assert!(out.status.success(), "drill restore: {}", text(&out));
    assert_eq!(
        ids(primary, &target),
        (0..=10).collect::<Vec<_>>(),
        "{}",
        text(&out)
    );

    // Too few rows is a failed drill, and nothing is pushed.
    let out = step("report", &["--min-rows", "t=1000"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("sanity check failed: t has 11 rows"),
        "{}",
        text(&out)
    );

    let (url, pushed) = pushgateway();
    let out = step("report", &["--min-rows", "t=11", "--push", &url]);
    assert!(out.status.success(), "drill report: {}", text(&out));
    let (head, body) = pushed
        .recv_timeout(Duration::from_secs(30))
        .expect("a push");
    assert!(
        head.starts_with("PUT /metrics/job/adminql_restore_drill HTTP/1.1"),
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
        (now - 600.0..=now + 1.0).contains(&success),
        "{success} vs {now}"
    );
    assert!(value("adminql_restore_drill_duration_seconds") >= 0.0);
    assert!(
        body.contains("adminql_restore_drill_restored_rows{table=\"t\"} 11"),
        "{body}"
    );
}
