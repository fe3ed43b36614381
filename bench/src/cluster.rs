//! A MariaDB primary and one GTID replica for the benchmark, started the way the integration
//! tests start theirs (`tests/support/mariadb.rs`): `mariadb-install-db` into a temporary
//! directory, one `mariadbd` per server on a free loopback port, replication with
//! `CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos`, and a read-only replica.
//!
//! Each `mariadbd` runs under a tiny shell watchdog that waits on its stdin: when this
//! process exits for any reason (even SIGKILL) the pipe closes, and the watchdog kills the
//! server and removes its data directory. Nothing outlives the run.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Password of every MariaDB account the benchmark creates.
pub const PASSWORD: &str = "adminql-bench-pw";
/// The database adminql uses.
pub const DATABASE: &str = "adminql";
/// The account adminql connects as.
pub const APP_USER: &str = "adminql";
/// The account the direct-SQL baseline connects as (same grants), so the server counts the
/// two clients' statements apart.
pub const DIRECT_USER: &str = "direct";

/// One `mariadbd` and how to reach it.
pub struct Server {
    pub name: &'static str,
    pub port: u16,
    dir: PathBuf,
    watchdog: Option<(Child, ChildStdin)>,
}

/// The primary and its replica.
pub struct Cluster {
    pub primary: Server,
    pub replica: Server,
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn find_binary(name: &str) -> anyhow::Result<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    bail!("{name} not found: install mariadb-server (scripts/test does)")
}

fn run(cmd: &mut Command, input: Option<&str>) -> anyhow::Result<String> {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("{cmd:?}"))?;
    if let Some(input) = input {
        let mut stdin = child.stdin.take().context("no stdin")?;
        let input = input.to_owned();
        // Written from a thread so a large script cannot deadlock against a full stdout.
        std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn whoami() -> anyhow::Result<String> {
    Ok(run(Command::new("id").arg("-un"), None)?.trim().to_owned())
}

impl Cluster {
    /// Initialises a data directory, starts both servers and sets up replication and the
    /// two client accounts.
    pub fn start(work: &Path) -> anyhow::Result<Cluster> {
        let started = Instant::now();
        let template = work.join("template");
        let install = || {
            let _ = std::fs::remove_dir_all(&template);
            run(
                Command::new(find_binary("mariadb-install-db")?)
                    .arg("--no-defaults")
                    .arg(format!("--datadir={}", template.display()))
                    .arg(format!("--user={}", whoami()?))
                    .arg("--auth-root-authentication-method=normal")
                    .arg("--skip-test-db")
                    .arg("--skip-name-resolve"),
                None,
            )
        };
        // mariadb-install-db has been seen to fail once in a while on a busy machine
        // ("Unknown table 'mysql.tmp_user_sys'"); a second attempt succeeds.
        if let Err(first) = install() {
            eprintln!("bench: mariadb-install-db failed, retrying once: {first:#}");
            install()?;
        }
        let mut primary = Server::create("primary", work, &template)?;
        let mut replica = Server::create("replica", work, &template)?;
        std::fs::remove_dir_all(&template)?;
        primary.start(1, &[])?;
        replica.start(2, &["--read-only=1", "--skip-slave-start"])?;
        primary.wait_until_up(Duration::from_secs(60))?;
        replica.wait_until_up(Duration::from_secs(60))?;

        // Accounts are created on the primary once the binlog is on, so they replicate.
        primary.sql(&format!(
            "CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl';
             GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';
             CREATE DATABASE {DATABASE};"
        ))?;
        replica.sql(&format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='repl',
             MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
             START SLAVE;",
            primary.port
        ))?;
        // adminql's documented grants: no SUPER and no READ_ONLY ADMIN, so read_only holds.
        for user in [APP_USER, DIRECT_USER] {
            primary.sql(&format!(
                "CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';
                 GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES,
                       CREATE TEMPORARY TABLES, LOCK TABLES ON {DATABASE}.* TO '{user}'@'127.0.0.1';
                 GRANT SLAVE MONITOR, BINLOG MONITOR ON *.* TO '{user}'@'127.0.0.1';"
            ))?;
        }
        let cluster = Cluster { primary, replica };
        cluster.wait_for_replica(Duration::from_secs(60))?;
        eprintln!(
            "bench: MariaDB primary :{} and replica :{} up in {:.1}s",
            cluster.primary.port,
            cluster.replica.port,
            started.elapsed().as_secs_f64()
        );
        Ok(cluster)
    }

    /// Blocks until the replica has applied everything the primary has written.
    pub fn wait_for_replica(&self, timeout: Duration) -> anyhow::Result<()> {
        let position = self.primary.sql("SELECT @@gtid_binlog_pos")?;
        let position = position.trim();
        let waited = self.replica.sql(&format!(
            "SELECT MASTER_GTID_WAIT('{position}', {})",
            timeout.as_secs()
        ))?;
        if waited.trim() != "0" {
            bail!("the replica did not reach {position}");
        }
        Ok(())
    }

    /// The replica's replication threads and last error, from `SHOW SLAVE STATUS`.
    pub fn replication_status(&self) -> String {
        let status = self.replica.sql("SHOW SLAVE STATUS\\G").unwrap_or_default();
        status
            .lines()
            .map(str::trim)
            .filter(|l| {
                l.starts_with("Slave_IO_Running:")
                    || l.starts_with("Slave_SQL_Running:")
                    || l.starts_with("Seconds_Behind_Master:")
                    || l.starts_with("Last_Error:")
                    || l.starts_with("Last_IO_Error:")
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Both servers, primary first.
    pub fn servers(&self) -> [&Server; 2] {
        [&self.primary, &self.replica]
    }

    /// Stops both servers and removes their files.
    pub fn stop(mut self) {
        self.primary.stop();
        self.replica.stop();
    }
}

impl Server {
    fn create(name: &'static str, work: &Path, template: &Path) -> anyhow::Result<Server> {
        let dir = work.join(name);
        std::fs::create_dir_all(&dir)?;
        run(
            Command::new("cp")
                .arg("-a")
                .arg(template)
                .arg(dir.join("data")),
            None,
        )?;
        Ok(Server {
            name,
            port: free_port()?,
            dir,
            watchdog: None,
        })
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }

    fn start(&mut self, server_id: u32, extra: &[&str]) -> anyhow::Result<()> {
        let mut args = vec![
            "--no-defaults".to_owned(),
            format!("--datadir={}", self.dir.join("data").display()),
            format!("--socket={}", self.socket().display()),
            format!("--pid-file={}", self.dir.join("mysqld.pid").display()),
            format!("--log-error={}", self.dir.join("error.log").display()),
            format!("--port={}", self.port),
            "--bind-address=127.0.0.1".to_owned(),
            format!("--user={}", whoami()?),
            format!("--server-id={server_id}"),
            "--log-bin=mysql-bin".to_owned(),
            "--relay-log=relay-bin".to_owned(),
            "--binlog-format=ROW".to_owned(),
            "--gtid-strict-mode=1".to_owned(),
            "--log-slave-updates=1".to_owned(),
            "--skip-name-resolve".to_owned(),
            // Per-account statement counts (information_schema.USER_STATISTICS).
            "--userstat=1".to_owned(),
            "--max-connections=400".to_owned(),
            "--innodb-buffer-pool-size=128M".to_owned(),
            "--innodb-log-file-size=64M".to_owned(),
            "--innodb-flush-log-at-trx-commit=2".to_owned(),
            "--sync-binlog=0".to_owned(),
            "--character-set-server=utf8mb4".to_owned(),
            "--collation-server=utf8mb4_unicode_ci".to_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"dir="$1"; shift; "$@" & pid=$!; read _line; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir""#)
            .arg("sh")
            .arg(&self.dir)
            .arg(find_binary("mariadbd")?)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start mariadbd")?;
        let stdin = child.stdin.take().context("no watchdog stdin")?;
        self.watchdog = Some((child, stdin));
        Ok(())
    }

    fn stop(&mut self) {
        if let Some((mut child, stdin)) = self.watchdog.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }

    fn wait_until_up(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.sql("SELECT 1") {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    let log =
                        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
                    bail!("{} did not come up: {e}\n{log}", self.name);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Runs SQL as root over the socket with the `mariadb` client; returns tab-separated rows.
    pub fn sql(&self, sql: &str) -> anyhow::Result<String> {
        self.client(&["-e", sql], None)
    }

    /// Feeds a (possibly large) SQL script to the `mariadb` client as root.
    pub fn script(&self, sql: &str) -> anyhow::Result<String> {
        self.client(&[], Some(sql))
    }

    fn client(&self, args: &[&str], input: Option<&str>) -> anyhow::Result<String> {
        run(
            Command::new(find_binary("mariadb")?)
                .arg("--no-defaults")
                .arg(format!("--socket={}", self.socket().display()))
                .arg("-uroot")
                .arg("--batch")
                .arg("--skip-column-names")
                .arg("--raw")
                .arg("--default-character-set=utf8mb4")
                .args(args),
            input,
        )
    }

    /// One number from a query that returns one.
    pub fn number(&self, sql: &str) -> anyhow::Result<u64> {
        let out = self.sql(sql)?;
        out.trim()
            .parse()
            .with_context(|| format!("{}: '{sql}' returned '{}'", self.name, out.trim()))
    }

    /// `mysql://` URL of `user` on this server.
    pub fn url(&self, user: &str) -> String {
        format!(
            "mysql://{user}:{PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// The `mariadbd` process id, for CPU accounting.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("mysqld.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
