//! The launcher against real `mariadbd`s: replication, a kill and a restart, a start that
//! fails, and nothing left behind.

use std::path::Path;
use std::time::{Duration, Instant};

use mariadb_cluster::Builder;

/// The entries of `dir` (the servers' directories).
fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[test]
fn a_killed_replica_restarts_on_its_port_and_catches_up_and_drop_removes_everything() {
    let parent = new_parent("lifecycle");
    let cluster = Builder::new().password("pw").dir(&parent).start().unwrap();
    let replica = &cluster.replicas[0];
    assert_eq!(replica.sql("SELECT @@read_only").unwrap().trim(), "1");
    cluster.primary.create_app_database("app").unwrap();
    cluster
        .primary
        .sql("CREATE TABLE app.t (id INT PRIMARY KEY)")
        .unwrap();

    replica.kill();
    assert!(replica.ping().is_err(), "killed means gone");
    assert_eq!(replica.pid(), None);
    cluster
        .primary
        .sql("INSERT INTO app.t VALUES (1), (2)")
        .unwrap();
    let port = replica.port;
    replica.restart_replica().unwrap();
    assert_eq!(replica.port, port);
    cluster.wait_for_replicas(Duration::from_secs(30)).unwrap();
    assert_eq!(replica.number("SELECT COUNT(*) FROM app.t").unwrap(), 2);
    assert!(
        replica.start().is_err(),
        "a running server is not started twice"
    );

    assert_eq!(entries(&parent), 2);
    drop(cluster);
    assert_eq!(entries(&parent), 0, "drop removes the servers' directories");
    std::fs::remove_dir(&parent).unwrap();
}

#[test]
fn a_server_that_aborts_its_start_fails_at_once_with_its_log() {
    let parent = new_parent("abort");
    let started = Instant::now();
    let error = Builder::new()
        .dir(&parent)
        .arg("--no-such-option=1")
        .start_standalone("broken")
        .err()
        .expect("an unknown option stops mariadbd");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "failed after {:?}",
        started.elapsed()
    );
    assert!(error.to_string().contains("no-such-option"), "{error}");
    assert_eq!(entries(&parent), 0, "a failed start leaves nothing");
    std::fs::remove_dir(&parent).unwrap();
}

/// A new empty directory for one test's servers.
fn new_parent(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mariadb-cluster-test-{label}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
