//! What the servers are made from: the Debian binaries, commands run to completion,
//! directories of their own, and the data directory `mariadb-install-db` makes once per
//! process for every server to copy.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::{Error, Result};

/// The path of a `mariadb-server` binary.
pub(crate) fn find_binary(name: &str) -> Result<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            Error::new(format!(
                "{name} not found: install mariadb-server (scripts/test does)"
            ))
        })
}

/// Runs `cmd` to completion, with `input` on its stdin; its stdout, or an error with both
/// of its outputs.
pub(crate) fn run(cmd: &mut Command, input: Option<&str>) -> Result<String> {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::new(format!("{cmd:?}: {e}")))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        let input = input.to_owned();
        // Written from a thread so a large script cannot deadlock against a full stdout.
        std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::new(format!("{cmd:?}: {e}")))?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The user this process runs as, which `mariadbd` runs as too.
pub(crate) fn user() -> Result<String> {
    static USER: OnceLock<Result<String, String>> = OnceLock::new();
    USER.get_or_init(|| {
        run(Command::new("id").arg("-un"), None)
            .map(|out| out.trim().to_owned())
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(Error::new)
}

/// A new directory under `parent`, named after `label` and this process.
pub(crate) fn new_dir(parent: &Path, label: &str) -> Result<PathBuf> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("mariadb-{label}-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            // Left by an earlier process with the same id.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::new(format!("{}: {e}", dir.display()))),
        }
    }
}

/// A freshly initialised data directory to copy for each server: made once per process,
/// and removed by a watchdog when the process exits.
pub(crate) fn template() -> Result<PathBuf> {
    static TEMPLATE: OnceLock<Result<(PathBuf, Mutex<ChildStdin>), String>> = OnceLock::new();
    let made = TEMPLATE.get_or_init(|| {
        let dir = new_dir(&std::env::temp_dir(), "template").map_err(|e| e.to_string())?;
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(r#"read _line; rm -rf "$1""#)
            .arg("sh")
            .arg(&dir)
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the template's watchdog: {e}"))?;
        let stdin = watchdog.stdin.take().ok_or("no watchdog stdin")?;
        let data = dir.join("data");
        // mariadb-install-db has failed once in a while on a busy machine ("Unknown table
        // 'mysql.tmp_user_sys'", seen by the benchmark while its temporary tables were still
        // in the shared /tmp); a second attempt succeeded.
        install_db(&dir, &data)
            .or_else(|first| {
                eprintln!("mariadb-cluster: mariadb-install-db failed, retrying once: {first}");
                let _ = std::fs::remove_dir_all(&data);
                install_db(&dir, &data)
            })
            .map_err(|e| e.to_string())?;
        Ok((data, Mutex::new(stdin)))
    });
    made.as_ref()
        .map(|(data, _)| data.clone())
        .map_err(|e| Error::new(e.clone()))
}

fn install_db(dir: &Path, data: &Path) -> Result<String> {
    // Temporary tables in a directory of the template's own, not the shared /tmp, where
    // another program's clean-up once deleted one mid-bootstrap.
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| Error::new(format!("{}: {e}", tmp.display())))?;
    run(
        Command::new(find_binary("mariadb-install-db")?)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--user={}", user()?))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg("--skip-name-resolve"),
        None,
    )
}
