//! One `mariadbd`: its directory and options, and its life: start, readiness, kill,
//! restart, and removal when dropped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::port::Port;
use crate::setup::{find_binary, new_dir, run, template, user};
use crate::{Error, Result};

/// One `mariadbd` and how to reach it. Dropping it kills the server and removes its files.
pub struct Server {
    /// Its part, in messages and directory names: `primary`, `replica`, `replica2`, ...
    pub name: &'static str,
    /// Its `server_id`.
    pub server_id: u32,
    /// Its loopback TCP port, the same across restarts.
    pub port: u16,
    /// The password of the accounts made through it (see [`Server::url`]).
    pub(crate) password: String,
    dir: PathBuf,
    /// Options after the common ones (for `mariadbd` the last of the same name wins).
    extra: Vec<String>,
    /// The watchdog of the running server; None while it is not running.
    watchdog: Mutex<Option<Watchdog>>,
    /// The error log's length when the server was last started: what follows is that run's.
    log_start: AtomicU64,
    _port: Port,
}

/// The shell that runs `mariadbd` and waits on its stdin.
struct Watchdog {
    child: Child,
    stdin: ChildStdin,
}

/// The watchdog's script: EOF on stdin (this process ended, or the [`Server`] was dropped)
/// kills the server and removes its directory; a line ([`Server::kill`]) only kills it.
/// Either way it reaps `mariadbd` before it exits.
const WATCHDOG: &str = r#"dir="$1"; shift; "$@" & pid=$!; if read _line; then keep=1; else keep=0; fi; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; [ "$keep" = 1 ] || rm -rf "$dir""#;

impl Server {
    /// A server with a copy of the template data directory in a new directory under
    /// `parent`, and a port of its own; not started.
    pub(crate) fn create(
        name: &'static str,
        server_id: u32,
        parent: &Path,
        password: &str,
        extra: &[String],
    ) -> Result<Server> {
        let port = Port::reserve()?;
        let server = Server {
            name,
            server_id,
            port: port.number(),
            password: password.to_owned(),
            dir: new_dir(parent, name)?,
            extra: extra.to_vec(),
            watchdog: Mutex::new(None),
            log_start: AtomicU64::new(0),
            _port: port,
        };
        run(
            Command::new("cp")
                .arg("-a")
                .arg(template()?)
                .arg(server.dir.join("data")),
            None,
        )?;
        Ok(server)
    }

    /// Its Unix socket, which the `mariadb` client reaches it by as root.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }

    /// Starts `mariadbd` (again, after [`Server::kill`]) on the same data and port. It
    /// answers once [`Server::wait_until_up`] has returned.
    pub fn start(&self) -> Result<()> {
        let mut watchdog = self.watchdog.lock().unwrap_or_else(PoisonError::into_inner);
        if watchdog.is_some() {
            return Err(Error::new(format!("{} is running already", self.name)));
        }
        let log_len = std::fs::metadata(self.error_log()).map_or(0, |m| m.len());
        self.log_start.store(log_len, Ordering::Relaxed);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(&self.dir)
            .arg(find_binary("mariadbd")?)
            .args(self.options()?)
            .args(&self.extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::new(format!("cannot start mariadbd: {e}")))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| Error::new("no watchdog stdin"))?;
        *watchdog = Some(Watchdog { child, stdin });
        Ok(())
    }

    /// The options every server gets.
    fn options(&self) -> Result<Vec<String>> {
        let dir = &self.dir;
        Ok(vec![
            "--no-defaults".to_owned(),
            format!("--datadir={}", dir.join("data").display()),
            format!("--socket={}", self.socket().display()),
            format!("--pid-file={}", dir.join("mysqld.pid").display()),
            format!("--log-error={}", self.error_log().display()),
            // Temporary tables in the server's own directory, not the shared /tmp, where
            // another program's clean-up once deleted one.
            format!("--tmpdir={}", dir.display()),
            format!("--port={}", self.port),
            "--bind-address=127.0.0.1".to_owned(),
            format!("--user={}", user()?),
            format!("--server-id={}", self.server_id),
            "--log-bin=mysql-bin".to_owned(),
            "--relay-log=relay-bin".to_owned(),
            "--binlog-format=ROW".to_owned(),
            "--gtid-strict-mode=1".to_owned(),
            "--log-slave-updates=1".to_owned(),
            "--skip-name-resolve".to_owned(),
            // Statements per account (information_schema.USER_STATISTICS): the tests count
            // what their own app sent, the benchmark adminql's and the baseline's apart.
            "--userstat=1".to_owned(),
            "--max-connections=400".to_owned(),
            "--innodb-buffer-pool-size=64M".to_owned(),
            "--innodb-log-file-size=48M".to_owned(),
            "--innodb-flush-log-at-trx-commit=2".to_owned(),
            "--sync-binlog=0".to_owned(),
            "--character-set-server=utf8mb4".to_owned(),
            "--collation-server=utf8mb4_unicode_ci".to_owned(),
        ])
    }

    /// Waits until the server answers SQL. Fails at once when it has aborted its start, and
    /// after `timeout` otherwise; either way with what it logged since it was started.
    pub fn wait_until_up(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let Err(e) = self.ping() else {
                return Ok(());
            };
            let log = self.log_of_this_start();
            if log.contains("[ERROR] Aborting") || Instant::now() > deadline {
                return Err(Error::new(format!(
                    "{} did not come up: {e}\n{log}",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills `mariadbd` at once (SIGKILL), as a crash would, and returns once it is gone.
    /// Its files stay, for [`Server::start`].
    pub fn kill(&self) {
        let running = self
            .watchdog
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(Watchdog {
            mut child,
            mut stdin,
        }) = running
        {
            let _ = stdin.write_all(b"\n");
            let _ = child.wait();
        }
        // Left behind by a killed server: `pid` must not name a process that is gone.
        let _ = std::fs::remove_file(self.dir.join("mysqld.pid"));
    }

    /// Restarts a killed replica and resumes replication.
    pub fn restart_replica(&self) -> Result<()> {
        self.start()?;
        self.wait_until_up(Duration::from_secs(60))?;
        self.sql("START SLAVE").map(|_| ())
    }

    /// The `mariadbd` process id (for CPU accounting), once it has written its pid file.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("mysqld.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn error_log(&self) -> PathBuf {
        self.dir.join("error.log")
    }

    fn log_of_this_start(&self) -> String {
        let log = std::fs::read(self.error_log()).unwrap_or_default();
        let start = usize::try_from(self.log_start.load(Ordering::Relaxed))
            .unwrap_or(0)
            .min(log.len());
        String::from_utf8_lossy(&log[start..]).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let running = self
            .watchdog
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match running {
            // EOF on its stdin: the watchdog kills the server and removes its directory.
            Some(Watchdog { mut child, stdin }) => {
                drop(stdin);
                let _ = child.wait();
            }
            // Killed (or never started): nobody else removes its files.
            None => {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        }
    }
}
