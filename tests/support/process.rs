//! The real `adminql` binary as a child process, for what only the binary does (start-up,
//! exit codes, signals).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_adminql");

/// Runs `adminql migrate` with no environment but `env` and `PATH`; it must exit 2. Returns
/// its one `adminql:` error line (a start-up refusal is one line that names the variable).
pub fn migrate_refused(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(BIN)
        .arg("migrate")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .output()
        .expect("run adminql");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit code for {env:?}: {stderr}"
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("adminql: "))
        .collect();
    assert_eq!(lines.len(), 1, "one error line expected: {stderr}");
    lines[0].to_owned()
}

/// A running `adminql`, killed when dropped; its stderr is collected line by line.
pub struct Process {
    child: Child,
    lines: Receiver<String>,
    /// What it has logged so far.
    pub log: String,
}

impl Process {
    /// Starts `adminql args` in `dir` with no environment but `env`, `PATH` and `NO_COLOR`.
    pub fn spawn(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Process {
        let mut child = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn adminql");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Process {
            child,
            lines,
            log: String::new(),
        }
    }

    /// Waits for a log line containing `text`; panics with the log so far after `timeout`.
    pub fn wait_for(&mut self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log.contains(text) {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.take(line),
                Err(_) => panic!("no '{text}' from adminql:\n{}", self.log),
            }
        }
    }

    /// Waits until what it logged after the first `since` bytes of [`Process::log`] contains
    /// one of `texts`; returns the index of the one that came first. Panics with the log
    /// after `timeout`.
    pub fn wait_for_first(&mut self, since: usize, texts: &[&str], timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let fresh = &self.log[since..];
            if let Some((_, i)) = texts
                .iter()
                .enumerate()
                .filter_map(|(i, text)| Some((fresh.find(text)?, i)))
                .min()
            {
                return i;
            }
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.take(line),
                Err(_) => panic!("none of {texts:?} from adminql:\n{}", &self.log[since..]),
            }
        }
    }

    /// Waits until it listens and returns the address it logged (with `LISTEN_ADDR` on port
    /// 0, the port the kernel picked).
    pub fn wait_for_address(&mut self, timeout: Duration) -> std::net::SocketAddr {
        const LISTENING: &str = "adminql listening on http://";
        self.wait_for(LISTENING, timeout);
        let line = self
            .log
            .lines()
            .find_map(|l| l.split_once(LISTENING).map(|(_, rest)| rest))
            .expect("the line just seen");
        // An IPv4 address and port, whatever follows it (text or JSON log format).
        let addr: String = line
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
            .collect();
        addr.parse()
            .unwrap_or_else(|e| panic!("'{addr}' is not an address ({e}):\n{}", self.log))
    }

    /// Whether it has not exited yet; collects what it logged meanwhile.
    pub fn running(&mut self) -> bool {
        while let Ok(line) = self.lines.try_recv() {
            self.take(line);
        }
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM (if it still runs) and waits for the exit; returns its code and the
    /// whole log.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().expect("wait");
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.take(line);
        }
        (status.code(), std::mem::take(&mut self.log))
    }

    fn take(&mut self, line: String) {
        self.log.push_str(&line);
        self.log.push('\n');
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Loopback TCP sockets from `/proc/net/tcp` by (local port, remote port): (state, bytes
/// sent and not yet acknowledged, bytes received and not yet read by the owner).
fn loopback_sockets() -> std::collections::HashMap<(u16, u16), (u8, u64, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port = |addr: &str| {
        let (ip, port) = addr.split_once(':')?;
        (ip == "0100007F").then(|| u16::from_str_radix(port, 16).ok())?
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (local, remote) = (port(f.get(1)?)?, port(f.get(2)?)?);
            let state = u8::from_str_radix(f.get(3)?, 16).ok()?;
            let (tx, rx) = f.get(4)?.split_once(':')?;
            let queue = |q: &str| u64::from_str_radix(q, 16).ok();
            Some(((local, remote), (state, queue(tx)?, queue(rx)?)))
        })
        .collect()
}

/// Whether the server on `server` (loopback) has read everything each of the `clients`
/// connections (by local port) sent it: the client's bytes are acknowledged, so they reached
/// the server's socket, and none of them waits there unread (or the server has already
/// closed its side, after answering). For a request written whole before this is asked,
/// that means the server has taken it in.
pub fn server_has_read(server: u16, clients: &[u16]) -> bool {
    const ESTABLISHED: u8 = 0x01;
    // FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, LAST_ACK, CLOSING: the server closed its side.
    const CLOSED_BY_SERVER: [u8; 6] = [0x04, 0x05, 0x06, 0x07, 0x09, 0x0B];
    let sockets = loopback_sockets();
    clients.iter().all(|&client| {
        let delivered = sockets
            .get(&(client, server))
            .is_some_and(|&(_, unacked, _)| unacked == 0);
        let read = sockets
            .get(&(server, client))
            .is_some_and(|&(state, _, unread)| {
                (state == ESTABLISHED && unread == 0) || CLOSED_BY_SERVER.contains(&state)
            });
        delivered && read
    })
}

/// A finished command's stdout and stderr, one after the other, for messages and `contains`.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
