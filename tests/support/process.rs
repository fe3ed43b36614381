//! The real `adminql` binary as a child process, for what only the binary does (start-up,
//! exit codes, signals).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_adminql");

/// A loopback port that was free a moment ago, for a child to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
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
