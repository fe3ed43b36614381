//! Shared pieces of the point-in-time recovery, off-cluster and drill tests: running the
//! scripts, an archiver process of the test's own, the archive's and the server's binlog files,
//! a source database with an account holding what the scripts document, and an S3 API (moto).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mariadb_cluster::Port;

use crate::support::mariadb::{APP_PASSWORD, Server};

pub(crate) fn script(name: &str) -> Command {
    let mut cmd = Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scripts")
            .join(name),
    );
    cmd.env("TEST_DB_PASSWORD", APP_PASSWORD);
    cmd
}

pub(crate) fn run(name: &str, args: &[&str]) -> Output {
    script(name).args(args).output().expect("run script")
}

pub(crate) use crate::support::process::text;

/// Polls `check` until it returns `Some`, failing after `timeout` with `what`.
pub(crate) fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One archiver process, in a process group of its own so that a kill takes its
/// `mariadb-binlog` child too, as a container kill would.
pub(crate) struct Archiver(Option<Child>);

impl Archiver {
    pub(crate) fn start(user: &str, port: u16, dir: &Path, metrics: &Path) -> Archiver {
        Archiver::start_with(user, port, dir, metrics, &[])
    }

    /// With more options (e.g. the local retention's); the log goes to `dir` + `.log`.
    pub(crate) fn start_with(
        user: &str,
        port: u16,
        dir: &Path,
        metrics: &Path,
        extra: &[&str],
    ) -> Archiver {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.with_extension("log"))
            .unwrap();
        let child = script("db-binlog-archive")
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--user",
                user,
            ])
            .args(["--password-env", "TEST_DB_PASSWORD", "--interval", "1"])
            .arg("--dir")
            .arg(dir)
            .arg("--metrics-file")
            .arg(metrics)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start db-binlog-archive");
        Archiver(Some(child))
    }

    pub(crate) fn kill(&mut self, signal: &str) {
        if let Some(mut child) = self.0.take() {
            let _ = Command::new("kill")
                .args([signal, "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Archiver {
    fn drop(&mut self) {
        self.kill("-KILL");
    }
}

pub(crate) fn binlog_files(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.metadata().unwrap().len(),
                    )
                })
                .filter(|(name, _)| !name.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The server's binlogs and their sizes (SHOW BINARY LOGS).
pub(crate) fn server_binlogs(primary: &Server) -> Vec<(String, u64)> {
    primary
        .sql("SHOW BINARY LOGS")
        .unwrap()
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            (
                f.next().unwrap().to_owned(),
                f.next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// True when the archive holds everything the server has written so far.
pub(crate) fn caught_up(primary: &Server, dir: &Path) -> bool {
    let status = primary.sql("SHOW MASTER STATUS").unwrap();
    let mut f = status.split('\t');
    let (file, pos): (&str, u64) = (f.next().unwrap(), f.next().unwrap().parse().unwrap());
    binlog_files(&dir.join(".partial")).contains(&(file.to_owned(), pos))
}

/// Every file directly in the archive is complete: the server has rotated past it and it has the
/// server's size for it.
pub(crate) fn assert_complete_files_match(primary: &Server, dir: &Path) {
    let server = server_binlogs(primary);
    let current = server.last().unwrap().0.clone();
    for (name, size) in binlog_files(dir) {
        assert_ne!(name, current, "the file in progress looks complete");
        assert!(
            server.contains(&(name.clone(), size)),
            "{name} ({size} bytes) is not the server's complete file: {server:?}"
        );
    }
}

pub(crate) fn metric(metrics: &Path, name: &str) -> Option<f64> {
    metric_value(&std::fs::read_to_string(metrics).ok()?, name)
}

/// The value of an unlabelled series in a Prometheus text exposition.
pub(crate) fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} "))?.parse().ok())
}

pub(crate) fn ids(primary: &Server, database: &str) -> Vec<u32> {
    primary
        .sql(&format!("SELECT id FROM {database}.t ORDER BY id"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

/// Inserts rows `ids` one transaction each, as an application would (default database set);
/// returns the GTID of the last one.
pub(crate) fn insert(
    primary: &Server,
    database: &str,
    ids: impl Iterator<Item = u32>,
    batch: &str,
) -> String {
    let mut sql = format!("USE {database};");
    for id in ids {
        sql.push_str(&format!("INSERT INTO t VALUES ({id}, '{batch}');"));
    }
    sql.push_str("SELECT @@last_gtid;");
    primary.sql(&sql).unwrap().trim().to_owned()
}

pub(crate) fn restore(
    user: &str,
    port: u16,
    dump: &Path,
    binlogs: &Path,
    target: &str,
    to: &[&str],
) -> Output {
    let port = port.to_string();
    let mut args = vec!["--host", "127.0.0.1", "--port", &port, "--user", user];
    args.extend(["--password-env", "TEST_DB_PASSWORD", "--database", target]);
    args.extend(["--binlogs", binlogs.to_str().unwrap()]);
    args.extend(to);
    args.push(dump.to_str().unwrap());
    run("db-restore", &args)
}

/// Creates `db` with table `t` holding row 0 (and tables after it with 320 kB rows, so that the
/// dump is larger than a pipe's buffer, as real ones are), and one account with what the scripts document:
/// streaming (REPLICATION SLAVE), positions (BINLOG MONITOR), the dump, and restores into `db`
/// and `db_*` (BINLOG REPLAY for the replayed row events). Returns the account's name.
pub(crate) fn source_database(primary: &Server, db: &str) -> String {
    let user = format!("u_{db}");
    primary
        .sql(&format!(
            "CREATE DATABASE {db};
             CREATE TABLE {db}.t (id INT PRIMARY KEY, batch CHAR(1) NOT NULL);
             INSERT INTO {db}.t VALUES (0, '0');
             CREATE TABLE {db}.zz_pad1 (id INT PRIMARY KEY, body LONGTEXT NOT NULL);
             INSERT INTO {db}.zz_pad1 VALUES (1, REPEAT('padding ', 40000));
             CREATE TABLE {db}.zz_pad2 LIKE {db}.zz_pad1;
             INSERT INTO {db}.zz_pad2 SELECT * FROM {db}.zz_pad1;
             CREATE TABLE {db}.zz_pad3 LIKE {db}.zz_pad1;
             INSERT INTO {db}.zz_pad3 SELECT * FROM {db}.zz_pad1;
             CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{APP_PASSWORD}';
             GRANT REPLICATION SLAVE, BINLOG MONITOR, BINLOG REPLAY ON *.* TO '{user}'@'127.0.0.1';
             GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON {db}.* TO '{user}'@'127.0.0.1';
             GRANT ALL ON `{db}\\_%`.* TO '{user}'@'127.0.0.1';
             GRANT ALL ON {db}.* TO '{user}'@'127.0.0.1';"
        ))
        .unwrap();
    user
}

/// `scripts/db-backup` of `db` to `out`.
pub(crate) fn backup(user: &str, port: u16, db: &str, out: &Path) {
    let out_arg = out.to_str().unwrap();
    let port = port.to_string();
    let args = [
        "--port",
        &port,
        "--user",
        user,
        "--password-env",
        "TEST_DB_PASSWORD",
    ];
    let out = run(
        "db-backup",
        &[&args[..], &["--database", db, "--out", out_arg]].concat(),
    );
    assert!(out.status.success(), "db-backup: {}", text(&out));
}

pub(crate) const BUCKET: &str = "adminql-offsite";

/// `python3 -m moto.server` on a loopback port held for it, killed on drop.
pub(crate) struct ObjectStore {
    child: Child,
    endpoint: String,
    _port: Port,
}

impl ObjectStore {
    pub(crate) fn start() -> ObjectStore {
        let reserved = Port::reserve().expect("a loopback port");
        let port = reserved.number();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto (scripts/test installs moto[server])");
        let store = ObjectStore {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            _port: reserved,
        };
        wait_for("moto to listen", Duration::from_secs(60), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        // CreateBucket: an operator makes the bucket; db-offsite never does.
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "CreateBucket: {answer}");
        store
    }

    pub(crate) fn offsite(&self, args: &[&str]) -> Output {
        let mut cmd = script("db-offsite");
        cmd.args(args);
        self.env(&mut cmd).output().expect("run db-offsite")
    }

    /// The settings of the Secret `mariadb-offsite` for this store, as the pods get them.
    pub(crate) fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("OFFSITE_S3_BUCKET", BUCKET)
            .env("OFFSITE_S3_PREFIX", "prod/adminql")
            .env("OFFSITE_S3_ENDPOINT", &self.endpoint)
            .env("OFFSITE_S3_SSE", "AES256")
            .env("OFFSITE_RETENTION_DAYS", "30")
            .env("AWS_ACCESS_KEY_ID", "offsite-test")
            .env("AWS_SECRET_ACCESS_KEY", "offsite-test-secret")
    }

    /// The server-side encryption the store recorded for a key (boto3 comes with moto).
    pub(crate) fn encryption_of(&self, key: &str) -> String {
        let out = Command::new("python3")
            .arg("-c")
            .arg(
                "import sys, boto3\n\
                 s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
                     aws_access_key_id='offsite-test', aws_secret_access_key='offsite-test-secret')\n\
                 print(s3.head_object(Bucket=sys.argv[2], Key=sys.argv[3]).get('ServerSideEncryption'))",
            )
            .args([&self.endpoint, BUCKET, key])
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .unwrap();
        assert!(out.status.success(), "head_object: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for ObjectStore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
