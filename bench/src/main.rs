//! `adminql-bench`: a reproducible load benchmark of adminql on real MariaDB, with two
//! baselines: the database's own speed (the fewest statements that give the same answers,
//! sent directly) and a hand-written HTTP service sending those statements. See
//! bench/README.md.
//!
//! `adminql-bench service` is that service (the benchmark starts it as a child process).

mod cluster;
mod compare;
mod dbstats;
mod direct;
mod http;
mod load;
mod measure;
mod minimal;
mod probe;
mod procfs;
mod report;
mod report_md;
mod report_targets;
mod run;
mod scenario;
mod seed;
mod server;
mod service;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Load benchmark of adminql (release build) on a MariaDB primary + replica started for the
/// run, against a direct-SQL baseline and a hand-written HTTP service. Prints a table and
/// writes bench/results.json.
#[derive(Parser, Debug, Clone)]
#[command(name = "adminql-bench")]
pub struct Args {
    /// CI smoke: a small data set and ~1.5 s per scenario; exits non-zero on any failed
    /// response.
    #[arg(long)]
    pub smoke: bool,
    /// Measured seconds per scenario and mode.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Saturation runs alternate adminql and both baselines in this many slices (the
    /// duration is shared among them), so load from elsewhere weighs on all alike.
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    /// Warm-up seconds before each measured saturation run.
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Warm-up seconds of mixed load once, before the first scenario.
    #[arg(long, default_value_t = 10.0)]
    pub initial_warmup: f64,
    /// Concurrent clients for the saturation runs (adminql and both baselines alike). 8 is
    /// the knee on 2 cores: fewer leaves CPU idle, more only queues.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Users in the data set (the bootstrap admin included).
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Roles besides `admin`.
    #[arg(long, default_value_t = 50)]
    pub roles: usize,
    /// adminql's DB_POOL_SIZE (connections per pool); both baselines use as many.
    #[arg(long, default_value_t = 10)]
    pub pool_size: usize,
    /// Only these scenarios (comma-separated keys: user_by_id, user_list, update_user,
    /// login, mixed).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Build adminql from this commit (a clean snapshot under bench/target/adminql) instead
    /// of the working tree.
    #[arg(long)]
    pub rev: Option<String>,
    /// Use this adminql binary instead of building one.
    #[arg(long)]
    pub adminql_bin: Option<PathBuf>,
    /// Extra environment for adminql, `NAME=VALUE` (repeatable), for experiments such as
    /// `MALLOC_ARENA_MAX=2`; recorded in the results.
    #[arg(long = "adminql-env", value_name = "NAME=VALUE")]
    pub adminql_env: Vec<String>,
    /// Record CPU profiles (`perf record --call-graph dwarf`) of adminql and of the
    /// hand-written service during each saturation slice, into
    /// bench/target/perf/<scenario>.data and <scenario>-service.data. Slows both down: the
    /// numbers of such a run are not for the table.
    #[arg(long)]
    pub perf: bool,
    /// Print every fixed-rate request slower than this many milliseconds to stderr, with the
    /// wall-clock time it finished, to line slow requests up with a trace such as
    /// `perf sched record -k mono` (`bench/README.md`, "What is left").
    #[arg(long, value_name = "MS")]
    pub slow_log: Option<u32>,
    /// Where to write the JSON results.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results.json"))]
    pub json: PathBuf,
    /// Also write the results as Markdown (for BENCHMARKS.md) to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Print the statements adminql and the baseline send for one request of each kind
    /// (from the general log), then exit.
    #[arg(long)]
    pub show_sql: bool,
    /// After seeding, wait this many seconds before the load (to look at the data or the
    /// query plans with the mariadb client: sockets under $TMPDIR/adminql-bench-PID/).
    #[arg(long, default_value_t = 0.0)]
    pub pause: f64,
    /// Seed of the random choices (ids, pages, names).
    #[arg(long, default_value_t = 20_261_123)]
    pub seed: u64,
}

impl Args {
    /// The smoke settings, unless given explicitly on the command line.
    fn apply_smoke(&mut self) {
        if self.smoke {
            self.duration = 1.5;
            self.rounds = 1;
            self.warmup = 0.5;
            self.initial_warmup = 1.0;
            self.users = self.users.min(500);
            self.roles = self.roles.min(10);
            self.concurrency = self.concurrency.min(8);
        }
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }

    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup)
    }
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(service::process::ARG) {
        return match service::process::settings_from_env() {
            Ok(settings) => service::main(settings),
            Err(e) => {
                eprintln!("adminql-bench service: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    let mut args = Args::parse();
    args.apply_smoke();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("adminql-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run::main(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("adminql-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}
