//! A GTID primary and its read-only replicas, or one standalone server, as a [`Builder`]
//! makes them, and the waits of replication.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::server::Server;
use crate::{Error, Result};

/// Names of the replicas, in order (a name is `&'static str` so callers can copy it).
const REPLICA_NAMES: [&str; 4] = ["replica", "replica2", "replica3", "replica4"];

/// How long a started server may take to answer.
const UP_TIMEOUT: Duration = Duration::from_secs(60);

/// What to start: how many replicas, the accounts' password, extra server options, and
/// where the servers' directories go.
#[derive(Clone, Debug)]
pub struct Builder {
    replicas: usize,
    password: String,
    args: Vec<String>,
    dir: PathBuf,
}

/// A primary and its replicas, which replicate from it with GTID (`MASTER_USE_GTID =
/// slave_pos`) and are `read_only`. Dropping it kills them all and removes their files.
pub struct Cluster {
    /// `server_id` 1.
    pub primary: Server,
    /// `server_id` 2, 3, ... named `replica`, `replica2`, ...
    pub replicas: Vec<Server>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            replicas: 1,
            password: "mariadb-cluster-pw".to_owned(),
            args: Vec::new(),
            dir: std::env::temp_dir(),
        }
    }
}

impl Builder {
    /// One replica, no extra options, directories in the system's temporary directory.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// How many replicas [`Builder::start`] starts (at most 4).
    pub fn replicas(mut self, n: usize) -> Builder {
        self.replicas = n;
        self
    }

    /// The password of the accounts made through the servers, which their URLs carry
    /// ([`Server::create_app_user`], [`Server::url`]).
    pub fn password(mut self, password: &str) -> Builder {
        self.password = password.to_owned();
        self
    }

    /// One more `mariadbd` option for every server. It comes after the common ones, so it
    /// overrides one of the same name (e.g. `--innodb-buffer-pool-size=128M`).
    pub fn arg(mut self, arg: impl Into<String>) -> Builder {
        self.args.push(arg.into());
        self
    }

    /// Every server offers TLS with this certificate and key (PEM files).
    pub fn tls(self, cert: &Path, key: &Path) -> Builder {
        self.arg(format!("--ssl-cert={}", cert.display()))
            .arg(format!("--ssl-key={}", key.display()))
    }

    /// The directory the servers' directories are made in.
    pub fn dir(mut self, parent: &Path) -> Builder {
        self.dir = parent.to_owned();
        self
    }

    /// Starts the primary and the replicas and sets up replication; returns once every
    /// server answers and every replica has applied what the primary has.
    pub fn start(self) -> Result<Cluster> {
        let names = REPLICA_NAMES.get(..self.replicas).ok_or_else(|| {
            Error::new(format!(
                "{} replicas asked for; at most {}",
                self.replicas,
                REPLICA_NAMES.len()
            ))
        })?;
        let primary = Server::create("primary", 1, &self.dir, &self.password, &self.args)?;
        let replica_args = [
            &["--read-only=1".to_owned(), "--skip-slave-start".to_owned()],
            &self.args[..],
        ]
        .concat();
        let replicas = names
            .iter()
            .zip(2..)
            .map(|(name, id)| Server::create(name, id, &self.dir, &self.password, &replica_args))
            .collect::<Result<Vec<_>>>()?;
        let cluster = Cluster { primary, replicas };
        for server in cluster.servers() {
            server.start()?;
        }
        for server in cluster.servers() {
            server.wait_until_up(UP_TIMEOUT)?;
        }
        // Accounts are made on the primary once its binlog is on, so they replicate.
        cluster.primary.sql(
            "CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl';
             GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';",
        )?;
        for replica in &cluster.replicas {
            replica.sql(&format!(
                "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='repl',
                 MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
                 START SLAVE;",
                cluster.primary.port
            ))?;
        }
        cluster.wait_for_replicas(Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// One server of its own (`server_id` 10), not replicating; returns once it answers.
    pub fn start_standalone(self, name: &'static str) -> Result<Server> {
        let server = Server::create(name, 10, &self.dir, &self.password, &self.args)?;
        server.start()?;
        server.wait_until_up(UP_TIMEOUT)?;
        Ok(server)
    }
}

impl Cluster {
    /// Blocks until every replica has applied what the primary had written when this was
    /// called.
    pub fn wait_for_replicas(&self, timeout: Duration) -> Result<()> {
        self.primary.wait_for_replicas(&self.replicas, timeout)
    }

    /// The primary, then the replicas.
    pub fn servers(&self) -> impl Iterator<Item = &Server> {
        std::iter::once(&self.primary).chain(&self.replicas)
    }
}

impl Server {
    /// Blocks until each of `replicas` has applied what this server had written when this
    /// was called (`MASTER_GTID_WAIT`).
    pub fn wait_for_replicas<'a>(
        &self,
        replicas: impl IntoIterator<Item = &'a Server>,
        timeout: Duration,
    ) -> Result<()> {
        let position = self.sql("SELECT @@gtid_binlog_pos")?;
        let position = position.trim();
        for replica in replicas {
            let waited = replica.sql(&format!(
                "SELECT MASTER_GTID_WAIT('{position}', {:.3})",
                timeout.as_secs_f64()
            ))?;
            if waited.trim() != "0" {
                return Err(Error::new(format!(
                    "{} did not reach {position} in {timeout:?}: {}",
                    replica.name,
                    replica.replication_status()
                )));
            }
        }
        Ok(())
    }

    /// A replica's replication threads, lag and last errors (`SHOW SLAVE STATUS`), on one
    /// line.
    pub fn replication_status(&self) -> String {
        let status = self.sql("SHOW SLAVE STATUS\\G").unwrap_or_default();
        status
            .lines()
            .map(str::trim)
            .filter(|l| {
                [
                    "Slave_IO_Running:",
                    "Slave_SQL_Running:",
                    "Seconds_Behind_Master:",
                    "Last_Error:",
                    "Last_IO_Error:",
                ]
                .iter()
                .any(|field| l.starts_with(field))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}
