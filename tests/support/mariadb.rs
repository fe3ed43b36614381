//! Real MariaDB servers for the integration tests, from the `mariadb-cluster` crate: a GTID
//! primary and two replicas shared by every test in this binary ([`cluster`]), private
//! clusters for tests that kill, stop or break servers ([`Cluster::private`]), and the
//! panicking statement counts tests assert on ([`Counts`]).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub use mariadb_cluster::{Builder, Error, Server};

/// The password of every account the tests make (their app users too).
pub const APP_PASSWORD: &str = "adminql-test-pw";

/// A primary and two replicas, named as the tests use them.
pub struct Cluster {
    pub primary: Server,
    pub replica: Server,
    pub replica2: Server,
}

static CLUSTER: OnceLock<Arc<Cluster>> = OnceLock::new();

/// The shared cluster, started on first use.
pub fn cluster() -> Arc<Cluster> {
    CLUSTER
        .get_or_init(|| Arc::new(Cluster::start(builder())))
        .clone()
}

/// The tests' servers: the test password, and statement digests in the performance schema.
pub fn builder() -> Builder {
    Builder::new()
        .password(APP_PASSWORD)
        .arg("--performance-schema=ON")
        .arg("--performance-schema-digests-size=20000")
}

impl Cluster {
    /// A cluster of this test's own, for tests that kill, stop or break servers; its
    /// servers are killed when it is dropped.
    pub fn private() -> Cluster {
        Cluster::start(builder())
    }

    /// A cluster of `builder`'s servers (from [`builder`], with more options: TLS, say).
    pub fn start(builder: Builder) -> Cluster {
        let started = Instant::now();
        let mariadb_cluster::Cluster { primary, replicas } = builder
            .replicas(2)
            .start()
            .unwrap_or_else(|e| panic!("cannot start MariaDB: {e}"));
        let Ok([replica, replica2]) = <[Server; 2]>::try_from(replicas) else {
            unreachable!("two replicas asked for")
        };
        eprintln!(
            "MariaDB primary :{} and replicas :{} :{} up in {:.1}s",
            primary.port,
            replica.port,
            replica2.port,
            started.elapsed().as_secs_f64()
        );
        Cluster {
            primary,
            replica,
            replica2,
        }
    }

    /// Blocks until every running replica has applied everything the primary has written.
    pub fn wait_for_replicas(&self, timeout: Duration) -> Result<(), Error> {
        self.primary
            .wait_for_replicas([&self.replica, &self.replica2], timeout)
    }
}

/// What a test counts on a server, from MariaDB's userstat. Each panics when the
/// statistics cannot be read: a count that silently became 0 would let every assertion on
/// it pass.
pub trait Counts {
    /// Statements the MariaDB user `user` has run here, the way a test counts what its
    /// own app sent: each test app connects as its own user.
    fn statements(&self, user: &str) -> u64;
    /// SELECTs `user` has run here.
    fn selects(&self, user: &str) -> u64;
    /// Data-changing statements `user` has run here.
    fn updates(&self, user: &str) -> u64;
    /// Rows a table of `database` has had read here.
    fn rows_read(&self, database: &str, table: &str) -> u64;
}

impl Counts for Server {
    fn statements(&self, user: &str) -> u64 {
        user_stats(self, user).statements()
    }

    fn selects(&self, user: &str) -> u64 {
        user_stats(self, user).selects
    }

    fn updates(&self, user: &str) -> u64 {
        user_stats(self, user).updates
    }

    fn rows_read(&self, database: &str, table: &str) -> u64 {
        self.number(&format!(
            "SELECT COALESCE(SUM(ROWS_READ), 0) FROM information_schema.TABLE_STATISTICS
             WHERE TABLE_SCHEMA = '{database}' AND TABLE_NAME = '{table}'"
        ))
        .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }
}

fn user_stats(server: &Server, user: &str) -> mariadb_cluster::UserStats {
    server
        .user_stats(user)
        .unwrap_or_else(|e| panic!("{}: {e}", server.name))
}
