//! The benchmark's MariaDB: a primary and one GTID replica started by the `mariadb-cluster`
//! crate (as the integration tests start theirs), with larger InnoDB buffers, adminql's
//! database, and three accounts with adminql's grants, so that the servers count the
//! statements of adminql and of each baseline apart.

use std::path::Path;
use std::time::{Duration, Instant};

pub use mariadb_cluster::{Cluster, Server};

/// Password of every MariaDB account the benchmark creates.
pub const PASSWORD: &str = "adminql-bench-pw";
/// The database adminql uses.
pub const DATABASE: &str = "adminql";
/// The account adminql connects as.
pub const APP_USER: &str = "adminql";
/// The account the direct-SQL baseline connects as (same grants), so the server counts the
/// two clients' statements apart.
pub const DIRECT_USER: &str = "direct";
/// The account the hand-written service connects as (same grants).
pub const SERVICE_USER: &str = "service";

/// Starts the primary and its replica (their directories under `work`), with the
/// database and the accounts.
pub fn start(work: &Path) -> anyhow::Result<Cluster> {
    let started = Instant::now();
    let cluster = mariadb_cluster::Builder::new()
        .password(PASSWORD)
        .dir(work)
        .arg("--innodb-buffer-pool-size=128M")
        .arg("--innodb-log-file-size=64M")
        .start()?;
    cluster
        .primary
        .sql(&format!("CREATE DATABASE {DATABASE}"))?;
    for user in [APP_USER, DIRECT_USER, SERVICE_USER] {
        cluster.primary.create_app_user(user, DATABASE)?;
    }
    cluster.wait_for_replicas(Duration::from_secs(60))?;
    eprintln!(
        "bench: MariaDB primary :{} and replica :{} up in {:.1}s",
        cluster.primary.port,
        replica(&cluster).port,
        started.elapsed().as_secs_f64()
    );
    Ok(cluster)
}

/// The replica adminql and the baseline read from.
pub fn replica(cluster: &Cluster) -> &Server {
    &cluster.replicas[0]
}

/// `mysql://` URL of `user` on `server`, in adminql's database.
pub fn url(server: &Server, user: &str) -> String {
    server.url(user, DATABASE)
}
