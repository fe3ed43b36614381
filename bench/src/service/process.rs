//! Starting the hand-written service as a child process of the benchmark (this same binary,
//! `adminql-bench service`), and reading its settings back on the other side.
//!
//! The service exits when its standard input closes, so it cannot outlive the benchmark even
//! when the benchmark is killed.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mariadb_cluster::Port;

use super::Settings;
use crate::cluster::{Cluster, SERVICE_USER, replica, url};
use crate::http::Connection;
use crate::server::{JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET};

/// The argument that makes this binary the service.
pub const ARG: &str = "service";

const LISTEN: &str = "BENCH_SERVICE_LISTEN";
const PRIMARY: &str = "BENCH_SERVICE_PRIMARY_URL";
const REPLICA: &str = "BENCH_SERVICE_REPLICA_URL";
const POOL_SIZE: &str = "BENCH_SERVICE_POOL_SIZE";
const SECRET: &str = "BENCH_SERVICE_JWT_SECRET";

/// The service's settings from its environment (set by [`Service::start`]).
pub fn settings_from_env() -> anyhow::Result<Settings> {
    let var = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    Ok(Settings {
        listen: var(LISTEN)?.parse().context(LISTEN)?,
        primary_url: var(PRIMARY)?,
        replica_url: var(REPLICA)?,
        pool_size: var(POOL_SIZE)?.parse().context(POOL_SIZE)?,
        jwt_secret: var(SECRET)?,
        issuer: JWT_ISSUER.to_owned(),
        audience: JWT_AUDIENCE.to_owned(),
    })
}

/// The running service.
pub struct Service {
    pub addr: SocketAddr,
    pub pid: u32,
    child: Option<Child>,
    /// Holds `addr`'s port for the service.
    _port: Port,
}

impl Service {
    /// Starts the service against the cluster (as the `service` account, with `pool_size`
    /// connections per server) and waits until it answers.
    pub async fn start(cluster: &Cluster, pool_size: usize) -> anyhow::Result<Service> {
        let port = Port::reserve()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port.number()));
        let child = Command::new(std::env::current_exe()?)
            .arg(ARG)
            .env(LISTEN, addr.to_string())
            .env(PRIMARY, url(&cluster.primary, SERVICE_USER))
            .env(REPLICA, url(replica(cluster), SERVICE_USER))
            .env(POOL_SIZE, pool_size.to_string())
            .env(SECRET, JWT_SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start the hand-written service")?;
        let service = Service {
            addr,
            pid: child.id(),
            child: Some(child),
            _port: port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut conn) = Connection::open(addr).await
                && let Ok((status, _)) = conn.get("/ready").await
                && status.is_success()
            {
                return Ok(service);
            }
            if Instant::now() > deadline {
                bail!("the hand-written service did not answer on {addr}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Closing its stdin stops it; kill in case it is stuck.
            drop(child.stdin.take());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
