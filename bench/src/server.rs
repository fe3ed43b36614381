//! Building adminql in release mode and running it against the benchmark's MariaDB.
//!
//! adminql runs under the same stdin watchdog as the database servers, so it cannot outlive
//! the benchmark either.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mariadb_cluster::Port;

use crate::cluster::{APP_USER, Cluster, replica, url};
use crate::http::Connection;

/// The bootstrap admin adminql creates on first start; its token drives scenarios 1-3 and 5.
pub const ADMIN_EMAIL: &str = "admin@bench.example";
pub const ADMIN_PASSWORD: &str = "bench-admin-password";
/// adminql's `JWT_SECRET` for the run; the hand-written service verifies tokens with it.
pub const JWT_SECRET: &str = "adminql-bench-secret-0123456789abcdefghijklmnop";
/// adminql's default `JWT_ISSUER` and `JWT_AUDIENCE`.
pub const JWT_ISSUER: &str = "adminql";
pub const JWT_AUDIENCE: &str = "adminql";

/// What was benchmarked: the binary and the source it was built from.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Build {
    pub binary: PathBuf,
    /// `git describe --always --dirty` of the source.
    pub commit: String,
}

fn git(repo: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn cargo_build(manifest_dir: &Path, target_dir: Option<&Path>) -> anyhow::Result<()> {
    eprintln!(
        "bench: cargo build --release --bin adminql in {}",
        manifest_dir.display()
    );
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(manifest_dir)
        .args(["build", "--release", "--bin", "adminql"]);
    if let Some(dir) = target_dir {
        cmd.arg("--target-dir").arg(dir);
    }
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    Ok(())
}

/// Builds adminql from the working tree at `repo` (`cargo build --release`).
pub fn build_working_tree(repo: &Path) -> anyhow::Result<Build> {
    cargo_build(repo, None)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"));
    Ok(Build {
        binary: target.join("release/adminql"),
        commit: git(repo, &["describe", "--always", "--dirty", "--abbrev=12"])?,
    })
}

/// Builds adminql from commit `rev` exactly (a `git archive` snapshot under `work`), so the
/// numbers belong to that commit whatever the working tree holds.
pub fn build_rev(repo: &Path, rev: &str, work: &Path) -> anyhow::Result<Build> {
    let commit = git(
        repo,
        &["rev-parse", "--short=12", &format!("{rev}^{{commit}}")],
    )?;
    let src = work.join("src").join(&commit);
    if !src.join("Cargo.toml").is_file() {
        std::fs::create_dir_all(&src)?;
        let archive = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["archive", "--format=tar", &commit])
            .stdout(Stdio::piped())
            .spawn()?;
        let status = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&src)
            .stdin(archive.stdout.context("git archive stdout")?)
            .status()?;
        if !status.success() {
            bail!("cannot unpack {commit}");
        }
    }
    let target = work.join("target");
    cargo_build(&src, Some(&target))?;
    Ok(Build {
        binary: target.join("release/adminql"),
        commit,
    })
}

/// Whether `pid` runs (a zombie, exited but not yet reaped by the watchdog, does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .and_then(|i| s[i + 1..].trim_start().chars().next())
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// A running adminql.
pub struct Server {
    pub addr: SocketAddr,
    pub pid: u32,
    watchdog: Option<(Child, ChildStdin)>,
    /// Holds `addr`'s port for adminql (no other process is handed it).
    _port: Port,
}

impl Server {
    /// Starts `binary serve` on a free port against the cluster and waits for `/ready`.
    pub async fn start(
        binary: &Path,
        cluster: &Cluster,
        pool_size: usize,
        extra_env: &[String],
        log: &Path,
    ) -> anyhow::Result<Server> {
        let port = Port::reserve()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port.number()));
        let log_file = std::fs::File::create(log)?;
        let mut child = Command::new("sh")
            .arg("-c")
            // The watchdog: EOF on stdin (the benchmark ended or died) stops adminql.
            .arg(r#""$@" </dev/null & pid=$!; echo "$pid"; read _line; kill "$pid" 2>/dev/null; sleep 0.5; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null"#)
            .arg("sh")
            .arg(binary)
            .arg("serve")
            .env("DATABASE_URL", url(&cluster.primary, APP_USER))
            .env("DATABASE_REPLICA_URLS", url(replica(cluster), APP_USER))
            .env("DB_POOL_SIZE", pool_size.to_string())
            .env("JWT_SECRET", JWT_SECRET)
            .env("ADMIN_EMAIL", ADMIN_EMAIL)
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("LISTEN_ADDR", addr.to_string())
            // The run outlasts the default 15 minutes.
            .env("ACCESS_TOKEN_TTL", "2h")
            .env("LOGIN_RATE_LIMIT_PER_IP", "100000")
            .env("LOGIN_RATE_LIMIT_PER_ACCOUNT", "100000")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .envs(extra_env.iter().filter_map(|kv| kv.split_once('=')))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdin = child.stdin.take().context("no watchdog stdin")?;
        let pid = {
            use std::io::BufRead;
            let stdout = child.stdout.take().context("no watchdog stdout")?;
            let mut line = String::new();
            std::io::BufReader::new(stdout).read_line(&mut line)?;
            line.trim().parse().context("adminql pid")?
        };
        let server = Server {
            addr,
            pid,
            watchdog: Some((child, stdin)),
            _port: port,
        };
        server.wait_ready(Duration::from_secs(60), log).await?;
        Ok(server)
    }

    async fn wait_ready(&self, timeout: Duration, log: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(mut conn) = Connection::open(self.addr).await
                && let Ok((status, _)) = conn.get("/ready").await
                && status.is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline || !alive(self.pid) {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                bail!("adminql did not become ready:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether every replica is in adminql's read rotation (from `/ready`).
    pub async fn replicas_in_rotation(&self) -> bool {
        let Ok(mut conn) = Connection::open(self.addr).await else {
            return false;
        };
        let Ok((_, body)) = conn.get("/ready").await else {
            return false;
        };
        let ready: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        ready["pools"].as_array().is_some_and(|pools| {
            pools
                .iter()
                .filter(|p| p["role"] == "replica")
                .all(|p| p["in_rotation"] == true)
        })
    }

    /// Waits (up to `timeout`) until adminql reads from its replica again, after it took the
    /// replica out of rotation (lag over `REPLICA_MAX_LAG`, e.g. after bulk seeding).
    /// Returns how long it waited.
    pub async fn wait_in_rotation(&self, timeout: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        while !self.replicas_in_rotation().await {
            if started.elapsed() > timeout {
                bail!("the replica is still out of adminql's rotation after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(started.elapsed())
    }

    /// Warnings and errors adminql logged (JSON log lines): the first ten distinct messages,
    /// with counts.
    pub fn warnings(log: &Path) -> Vec<(String, u64)> {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let mut out: Vec<(String, u64)> = Vec::new();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if v["level"] != "WARN" && v["level"] != "ERROR" {
                continue;
            }
            let text = v["message"]
                .as_str()
                .or(v["fields"]["message"].as_str())
                .unwrap_or("");
            let reason = v["reason"]
                .as_str()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            let message = format!("{} {text}{reason}", v["level"].as_str().unwrap_or(""));
            if let Some((_, n)) = out.iter_mut().find(|(m, _)| *m == message) {
                *n += 1;
            } else if out.len() < 10 {
                out.push((message, 1));
            }
        }
        out
    }

    /// Stops adminql (SIGTERM, then SIGKILL after half a second).
    pub fn stop(&mut self) {
        if let Some((mut child, stdin)) = self.watchdog.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
