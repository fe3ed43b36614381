//! MariaDB servers on loopback for adminql's integration tests (`tests/support/mariadb.rs`)
//! and its benchmark (`bench/src/cluster.rs`): a GTID primary with read-only replicas, or
//! one standalone server, each a `mariadbd` of the Debian `mariadb-server` package in a
//! directory of its own.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! let cluster = mariadb_cluster::Builder::new()
//!     .replicas(2)
//!     .password("app-password")
//!     .arg("--innodb-buffer-pool-size=128M")
//!     .start()?;
//! cluster.primary.create_app_database("app")?;
//! cluster.wait_for_replicas(Duration::from_secs(30))?;
//! let replica_url = cluster.replicas[0].url("app", "app");
//! # Ok::<(), mariadb_cluster::Error>(())
//! ```
//!
//! What it holds to:
//! - **Nothing outlives the process.** Each `mariadbd` runs under a shell watchdog that
//!   waits on a pipe from this process: when the process ends, however (a panic, SIGKILL),
//!   the pipe closes and the watchdog kills the server and removes its directory. Dropping a
//!   [`Server`] does the same at once.
//! - **No port races.** Ports come from below the kernel's ephemeral range and are held by a
//!   lock file for a server's life ([`Port`]), so neither another user of this crate nor a
//!   port the kernel hands out (a client's connection, a listener on port 0) takes one, not
//!   even while a killed server waits to be restarted.
//! - **Readiness is observed, not slept on.** [`Builder::start`] returns once every server
//!   answers SQL and every replica has applied what the primary wrote; a server that aborts
//!   its start fails at once, with its error log.
//!
//! Everything here blocks the calling thread: call it from `spawn_blocking` in async code.

mod cluster;
mod port;
mod server;
mod setup;
mod sql;

pub use cluster::{Builder, Cluster};
pub use port::Port;
pub use server::Server;
pub use sql::UserStats;

use std::fmt;

/// What failed: the command or the condition, with what the client or the server said
/// (a server that does not come up brings its error log).
pub struct Error(String);

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The message as it is, so a failed `expect` shows an error log line by line instead of
/// one quoted string.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}
