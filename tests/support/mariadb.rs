//! Real MariaDB servers for the integration tests: a GTID primary and replicas, started once
//! per test binary from the Debian `mariadb-server` binaries, in temporary directories, on
//! free loopback ports.
//!
//! Each `mariadbd` runs under a tiny shell watchdog that kills it (and removes its data
//! directory) when the test process exits and closes the watchdog's stdin, so no server
//! outlives the tests even when they panic.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const APP_PASSWORD: &str = "adminql-test-pw";

/// One `mariadbd` process and how to reach it.
pub struct Server {
    pub name: &'static str,
    pub server_id: u32,
    pub port: u16,
    dir: PathBuf,
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
    extra_args: Vec<String>,
}

/// A primary and two replicas. One is shared by every test in this binary ([`cluster`]);
/// tests that stop or break servers get a private one ([`Cluster::private`]), whose servers
/// are killed when it is dropped.
pub struct Cluster {
    pub primary: Server,
    pub replica: Server,
    pub replica2: Server,
}

static CLUSTER: OnceLock<Arc<Cluster>> = OnceLock::new();

/// The shared cluster, started on first use.
pub fn cluster() -> Arc<Cluster> {
    CLUSTER
        .get_or_init(|| {
            Arc::new(Cluster::start(&[]).unwrap_or_else(|e| panic!("cannot start MariaDB: {e}")))
        })
        .clone()
}

/// A freshly initialised data directory to copy for each server (made once per process, and
/// removed by a watchdog when the process exits).
fn template() -> Result<PathBuf, String> {
    static TEMPLATE: OnceLock<Result<(PathBuf, Mutex<ChildStdin>), String>> = OnceLock::new();
    let made = TEMPLATE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("adminql-mariadb-template-")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        let data = dir.join("data");
        // Temporary tables in a directory of the template's own, not the shared /tmp, where
        // another program's clean-up once deleted one mid-bootstrap.
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
        let user = run(Command::new("id").arg("-un"))?.trim().to_owned();
        run(Command::new(find_binary("mariadb-install-db")?)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--user={user}"))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg("--skip-name-resolve"))?;
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(r#"read _line; rm -rf "$1""#)
            .arg("sh")
            .arg(&dir)
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdin = watchdog.stdin.take().ok_or("no watchdog stdin")?;
        Ok((data, Mutex::new(stdin)))
    });
    made.as_ref()
        .map(|(data, _)| data.clone())
        .map_err(Clone::clone)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn find_binary(name: &str) -> Result<PathBuf, String> {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    Err(format!(
        "{name} not found: install mariadb-server (scripts/test does)"
    ))
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Cluster {
    /// A cluster of this test's own, for tests that kill, stop or break servers.
    pub fn private() -> Cluster {
        Cluster::start(&[]).unwrap_or_else(|e| panic!("cannot start MariaDB: {e}"))
    }

    /// A private cluster whose three servers also get `args` (e.g. TLS options, see
    /// [`tls_args`]).
    pub fn private_with(args: &[String]) -> Cluster {
        Cluster::start(args).unwrap_or_else(|e| panic!("cannot start MariaDB: {e}"))
    }

    fn start(args: &[String]) -> Result<Cluster, String> {
        let started = Instant::now();
        let data = template()?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let replica_args = [&["--read-only=1", "--skip-slave-start"], &args[..]].concat();

        let primary = Server::create("primary", 1, &data, &args)?;
        let replica = Server::create("replica", 2, &data, &replica_args)?;
        let replica2 = Server::create("replica2", 3, &data, &replica_args)?;
        for server in [&primary, &replica, &replica2] {
            server.start()?;
        }
        for server in [&primary, &replica, &replica2] {
            server.wait_until_up(Duration::from_secs(60))?;
        }

        // Users are created on the primary after the binlog is on, so replication copies them
        // (each test's application user too: see `create_app_database`).
        primary.sql(
            "CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl';
             GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';",
        )?;
        for replica in [&replica, &replica2] {
            replica.sql(&format!(
                "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='repl',
                 MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
                 START SLAVE;",
                primary.port
            ))?;
        }
        let cluster = Cluster {
            primary,
            replica,
            replica2,
        };
        cluster.wait_for_replicas(Duration::from_secs(30))?;
        eprintln!(
            "MariaDB primary :{} and replicas :{} :{} up in {:.1}s",
            cluster.primary.port,
            cluster.replica.port,
            cluster.replica2.port,
            started.elapsed().as_secs_f64()
        );
        Ok(cluster)
    }

    /// Blocks until every running replica has applied everything the primary has written.
    pub fn wait_for_replicas(&self, timeout: Duration) -> Result<(), String> {
        let position = self.primary.sql("SELECT @@gtid_binlog_pos")?;
        let position = position.trim();
        for replica in [&self.replica, &self.replica2] {
            let waited = replica.sql(&format!(
                "SELECT MASTER_GTID_WAIT('{position}', {})",
                timeout.as_secs()
            ))?;
            if waited.trim() != "0" {
                return Err(format!("{} did not reach {position}", replica.name));
            }
        }
        Ok(())
    }
}

impl Drop for Server {
    /// Closing the watchdog's stdin kills the server and removes its files.
    fn drop(&mut self) {
        if let Ok(mut guard) = self.watchdog.lock()
            && let Some((mut child, stdin)) = guard.take()
        {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// `mariadbd` options that make a server offer TLS with this certificate and key (PEM files).
pub fn tls_args(cert: &Path, key: &Path) -> Vec<String> {
    vec![
        format!("--ssl-cert={}", cert.display()),
        format!("--ssl-key={}", key.display()),
    ]
}

impl Server {
    /// One server of its own, not replicating, started with `args` too (e.g. [`tls_args`]);
    /// killed when dropped.
    pub fn standalone(name: &'static str, args: &[String]) -> Result<Server, String> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = Server::create(name, 10, &template()?, &args)?;
        server.start()?;
        server.wait_until_up(Duration::from_secs(60))?;
        Ok(server)
    }

    fn create(
        name: &'static str,
        server_id: u32,
        template: &Path,
        extra: &[&str],
    ) -> Result<Server, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("adminql-mariadb-{name}-"))
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        run(Command::new("cp")
            .arg("-a")
            .arg(template)
            .arg(dir.join("data")))?;
        Ok(Server {
            name,
            server_id,
            port: free_port(),
            dir,
            watchdog: Mutex::new(None),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }

    /// Starts (or restarts) `mariadbd` on the same data directory and port.
    pub fn start(&self) -> Result<(), String> {
        let user = run(Command::new("id").arg("-un"))?.trim().to_owned();
        let mut args = vec![
            "--no-defaults".to_owned(),
            format!("--datadir={}", self.dir.join("data").display()),
            format!("--socket={}", self.socket().display()),
            format!("--pid-file={}", self.dir.join("mysqld.pid").display()),
            format!("--log-error={}", self.dir.join("error.log").display()),
            format!("--tmpdir={}", self.dir.display()),
            format!("--port={}", self.port),
            "--bind-address=127.0.0.1".to_owned(),
            format!("--user={user}"),
            format!("--server-id={}", self.server_id),
            "--log-bin=mysql-bin".to_owned(),
            "--relay-log=relay-bin".to_owned(),
            "--binlog-format=ROW".to_owned(),
            "--gtid-strict-mode=1".to_owned(),
            "--log-slave-updates=1".to_owned(),
            "--skip-name-resolve".to_owned(),
            "--userstat=1".to_owned(),
            "--max-connections=400".to_owned(),
            "--innodb-buffer-pool-size=64M".to_owned(),
            "--innodb-log-file-size=48M".to_owned(),
            "--innodb-flush-log-at-trx-commit=2".to_owned(),
            "--sync-binlog=0".to_owned(),
            // Statement digests per schema let a test count the statements of its own database.
            "--performance-schema=ON".to_owned(),
            "--performance-schema-digests-size=20000".to_owned(),
            "--character-set-server=utf8mb4".to_owned(),
            "--collation-server=utf8mb4_unicode_ci".to_owned(),
        ];
        args.extend(self.extra_args.iter().cloned());
        let mariadbd = find_binary("mariadbd")?;
        // The watchdog: runs mariadbd and waits on its own stdin. EOF (the test process
        // exited) kills the server and removes its files; a newline (Server::kill) only kills.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"dir="$1"; shift; "$@" & pid=$!; if read _line; then keep=1; else keep=0; fi; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; [ "$keep" = 1 ] || rm -rf "$dir""#)
            .arg("sh")
            .arg(&self.dir)
            .arg(mariadbd)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start mariadbd: {e}"))?;
        let stdin = child.stdin.take().ok_or("no watchdog stdin")?;
        *self.watchdog.lock().map_err(|e| e.to_string())? = Some((child, stdin));
        Ok(())
    }

    /// Restarts a killed replica and resumes replication.
    pub fn restart_replica(&self) -> Result<(), String> {
        self.start()?;
        self.wait_until_up(Duration::from_secs(60))?;
        self.sql("START SLAVE").map(|_| ())
    }

    /// Kills `mariadbd` at once (SIGKILL), as a crash would.
    pub fn kill(&self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("mysqld.pid")) {
            let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && self.ping().is_ok() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(self.dir.join("mysqld.pid"));
        if let Ok(mut guard) = self.watchdog.lock()
            && let Some((mut child, mut stdin)) = guard.take()
        {
            let _ = stdin.write_all(b"\n");
            let _ = child.wait();
        }
    }

    pub fn wait_until_up(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.ping() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    let log =
                        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
                    return Err(format!("{} did not come up: {e}\n{log}", self.name));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    pub fn ping(&self) -> Result<(), String> {
        self.sql("SELECT 1").map(|_| ())
    }

    /// Runs SQL as root over the socket with the `mariadb` client; returns tab-separated rows.
    pub fn sql(&self, sql: &str) -> Result<String, String> {
        run(Command::new(find_binary("mariadb")?)
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .arg("-uroot")
            .arg("--batch")
            .arg("--skip-column-names")
            .arg("-e")
            .arg(sql))
    }

    /// `mysql://` URL for `user` (with the test password) and `database`.
    pub fn url(&self, user: &str, database: &str) -> String {
        format!(
            "mysql://{user}:{APP_PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// Creates a database and an application user of the same name limited to it, with the
    /// privileges adminql needs and none that bypass `read_only`.
    pub fn create_app_database(&self, name: &str) -> Result<(), String> {
        self.sql(&format!(
            "CREATE DATABASE {name};
             CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY '{APP_PASSWORD}';
             GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES,
                   CREATE TEMPORARY TABLES, LOCK TABLES ON {name}.* TO '{name}'@'127.0.0.1';
             GRANT SLAVE MONITOR, BINLOG MONITOR ON *.* TO '{name}'@'127.0.0.1';"
        ))
        .map(|_| ())
    }

    /// Statements the MariaDB user `user` has run on this server (userstat), the way a
    /// test counts what its own app sent: each test app connects as its own user.
    pub fn statements(&self, user: &str) -> u64 {
        self.user_stat(user, "SELECT_COMMANDS + UPDATE_COMMANDS + OTHER_COMMANDS")
    }

    /// SELECTs the MariaDB user `user` has run on this server.
    pub fn selects(&self, user: &str) -> u64 {
        self.user_stat(user, "SELECT_COMMANDS")
    }

    /// Data-changing statements the MariaDB user `user` has run on this server.
    pub fn updates(&self, user: &str) -> u64 {
        self.user_stat(user, "UPDATE_COMMANDS")
    }

    /// Panics when the statistics cannot be read: a count that silently became 0 would let
    /// every assertion on it pass.
    fn user_stat(&self, user: &str, columns: &str) -> u64 {
        self.number(&format!(
            "SELECT COALESCE(SUM({columns}), 0) FROM information_schema.USER_STATISTICS WHERE USER = '{user}'"
        ))
    }

    /// The single number `sql` returns; panics (naming the server and the error) otherwise.
    fn number(&self, sql: &str) -> u64 {
        let out = self
            .sql(sql)
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.name));
        out.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{}: {sql}: not a number ({e}): {out:?}", self.name))
    }

    /// Rows a table of `database` has had read on this server (MariaDB userstat).
    pub fn rows_read(&self, database: &str, table: &str) -> u64 {
        self.number(&format!(
            "SELECT COALESCE(SUM(ROWS_READ), 0) FROM information_schema.TABLE_STATISTICS
             WHERE TABLE_SCHEMA = '{database}' AND TABLE_NAME = '{table}'"
        ))
    }
}
