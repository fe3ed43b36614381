//! The results: a table on stdout, `results.json`, and the Markdown of BENCHMARKS.md, all
//! from the same numbers.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use crate::Args;
use crate::compare::Compared;
use crate::dbstats::{Plan, PreparedCount};
use crate::probe::Background;
use crate::run::Target;
use crate::scenario::Scenario;
use crate::server::Build;

/// How a run loaded its client.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Mode {
    /// `concurrency` clients back to back.
    Saturation,
    /// This many requests per second on a schedule (half the saturating throughput).
    FixedRate(f64),
}

/// One measured run.
#[derive(Clone, Debug, Serialize)]
pub struct Measured {
    pub scenario: Scenario,
    #[serde(serialize_with = "target_name")]
    pub target: Target,
    pub mode: Mode,
    pub concurrency: usize,
    pub requests: u64,
    pub failures: u64,
    pub failure_reasons: Vec<String>,
    pub late: u64,
    pub seconds: f64,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Successful requests per latency bucket (upper bound in ms).
    pub histogram_ms: Vec<(String, u64)>,
    /// Statements the client's account ran on both servers (userstat), per request.
    pub statements_per_op: f64,
    /// `Com_stmt_prepare` per request (both servers).
    pub prepares_per_op: f64,
    /// CPU seconds per 1,000 requests of the server process (adminql or the service; 0 for
    /// the direct client, which runs in the load generator).
    pub server_cpu_s_per_1k: f64,
    pub db_cpu_s_per_1k: f64,
    pub loadgen_cpu_s_per_1k: f64,
    /// The server process's `VmHWM` during this run (adminql's or the service's), in bytes.
    pub server_peak_rss: Option<u64>,
    /// Share of the client's statements that ran on the replica (reads should all go there;
    /// less means adminql fell back to the primary).
    pub replica_share: f64,
    /// Share of the machine's CPU capacity used by processes other than adminql, MariaDB
    /// and the load generator during the run (noise from other work on a shared machine).
    pub other_cpu_share: f64,
    /// Share of the machine's CPU capacity the hypervisor took (steal) during the run.
    pub steal_share: f64,
    /// `Prepared_stmt_count` of both servers together when the measured run started and
    /// when it ended.
    pub prepared_before: u64,
    pub prepared_after: u64,
}

fn target_name<S: serde::Serializer>(t: &Target, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match t {
        Target::Adminql => "adminql",
        Target::Direct => "direct",
        Target::Service => "service",
    })
}

/// Statements per `allUsers` request at one page size.
#[derive(Clone, Debug, Serialize)]
pub struct PageCost {
    pub per_page: usize,
    pub requests: usize,
    pub statements_per_op: f64,
    pub prepares_per_op: f64,
}

/// A target of the issue and whether this run met it, or an informational comparison
/// (`informational`: no target, `met` is meaningless).
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub target: String,
    pub measured: String,
    pub met: bool,
    pub informational: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
    pub kernel: String,
    pub mariadb: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub smoke: bool,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub initial_warmup_s: f64,
    pub concurrency: usize,
    pub rounds: usize,
    pub users: usize,
    pub roles: usize,
    pub pool_size: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub date: String,
    pub commit: String,
    pub command: String,
    pub machine: Machine,
    pub settings: Settings,
    pub runs: Vec<Measured>,
    pub page_costs: Vec<PageCost>,
    /// One request of each kind from adminql and from the baseline (general log).
    pub compared: Vec<Compared>,
    /// `EXPLAIN` of scenario 2's statements.
    pub plans: Vec<Plan>,
    /// What adminql sends while idle (subtracted from statements per request).
    pub background: Background,
    /// Seconds waited, and before what, for adminql to put the replica back in rotation.
    pub rotation_waits: Vec<(String, f64)>,
    /// Warnings and errors adminql logged during the run, with counts.
    pub adminql_warnings: Vec<(String, u64)>,
    pub prepared_stmt_count_before: PreparedCount,
    pub prepared_stmt_count_after: PreparedCount,
    /// adminql's `VmHWM` at the end of the run (bytes; peaks are reset per run, so this is
    /// the last run's peak unless the kernel refused the reset).
    pub adminql_peak_rss_end: Option<u64>,
    pub checks: Vec<Check>,
    pub wall_seconds: f64,
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpu_description(&cpuinfo);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kb: f64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .unwrap_or("")
        .trim_matches('"')
        .to_owned();
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_gib: (memory_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        os,
        kernel: sh("uname", &["-r"]),
        mariadb: sh("/usr/sbin/mariadbd", &["--version"])
            .split_whitespace()
            .nth(2)
            .unwrap_or("")
            .to_owned(),
    }
}

/// The first CPU's model name, with its family, model and clock: a virtual machine's model
/// name is often just "AMD EPYC", which covers generations a factor of two apart in speed.
fn cpu_description(cpuinfo: &str) -> String {
    let field = |name: &str| {
        cpuinfo
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let mut cpu = field("model name").unwrap_or("unknown CPU").to_owned();
    if let (Some(family), Some(model)) = (field("cpu family"), field("model")) {
        let _ = write!(cpu, ", family {family} model {model}");
    }
    if let Some(mhz) = field("cpu MHz").and_then(|v| v.parse::<f64>().ok()) {
        let _ = write!(cpu, ", {mhz:.0} MHz");
    }
    cpu
}

fn command(args: &Args, build: &Build) -> String {
    let mut cmd = String::from("bench/run");
    if args.smoke {
        cmd.push_str(" --smoke");
    }
    if args.rev.is_some() {
        // The commit it resolved to, so the command means the same thing later.
        let _ = write!(cmd, " --rev {}", build.commit);
    }
    let _ = write!(
        cmd,
        " --duration {} --rounds {} --warmup {} --initial-warmup {} --concurrency {} --users {} --roles {} --pool-size {}",
        args.duration,
        args.rounds,
        args.warmup,
        args.initial_warmup,
        args.concurrency,
        args.users,
        args.roles,
        args.pool_size
    );
    for kv in &args.adminql_env {
        let _ = write!(cmd, " --adminql-env {kv}");
    }
    if let Some(md) = &args.markdown {
        let _ = write!(cmd, " --markdown {}", md.display());
    }
    cmd
}

fn mb(bytes: Option<u64>) -> f64 {
    bytes.map_or(0.0, |b| b as f64 / 1024.0 / 1024.0)
}

impl Report {
    #[expect(
        clippy::too_many_arguments,
        reason = "one constructor for every part of the report"
    )]
    pub fn new(
        args: &Args,
        build: Build,
        runs: Vec<Measured>,
        page_costs: Vec<PageCost>,
        compared: Vec<Compared>,
        plans: Vec<Plan>,
        background: Background,
        rotation_waits: Vec<(String, f64)>,
        adminql_warnings: Vec<(String, u64)>,
        prepared_before: PreparedCount,
        prepared_after: PreparedCount,
        peak_rss_end: Option<u64>,
        wall: Duration,
    ) -> Report {
        let mut report = Report {
            date: sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            command: command(args, &build),
            commit: build.commit,
            machine: machine(),
            settings: Settings {
                smoke: args.smoke,
                duration_s: args.duration,
                warmup_s: args.warmup,
                initial_warmup_s: args.initial_warmup,
                concurrency: args.concurrency,
                rounds: args.rounds,
                users: args.users,
                roles: args.roles,
                pool_size: args.pool_size,
            },
            runs,
            page_costs,
            compared,
            plans,
            background,
            rotation_waits,
            adminql_warnings,
            prepared_stmt_count_before: prepared_before,
            prepared_stmt_count_after: prepared_after,
            adminql_peak_rss_end: peak_rss_end,
            checks: Vec::new(),
            wall_seconds: wall.as_secs_f64(),
        };
        report.checks = crate::report_targets::evaluate(&report, args);
        report
    }

    pub fn find(&self, scenario: Scenario, target: Target, saturation: bool) -> Option<&Measured> {
        self.runs.iter().find(|r| {
            r.scenario == scenario
                && r.target == target
                && matches!(r.mode, Mode::Saturation) == saturation
        })
    }

    /// adminql's saturating throughput over the direct-SQL baseline's, for `scenario`: issue
    /// 16's ratio.
    pub fn ratio(&self, scenario: Scenario) -> Option<f64> {
        self.share(scenario, Target::Adminql, Target::Direct)
    }

    /// `who`'s saturating throughput as a share of `of`'s, for `scenario`.
    pub fn share(&self, scenario: Scenario, who: Target, of: Target) -> Option<f64> {
        let a = self.find(scenario, who, true)?;
        let b = self.find(scenario, of, true)?;
        Some(a.throughput / b.throughput.max(1e-9))
    }

    fn rows(&self) -> Vec<[String; 14]> {
        let mut rows = Vec::new();
        for r in &self.runs {
            let load = match r.mode {
                Mode::Saturation => format!("{} clients", r.concurrency),
                Mode::FixedRate(rate) => format!("{rate:.0} req/s fixed"),
            };
            let share = |of: Target| match (r.target, r.mode) {
                (Target::Adminql | Target::Service, Mode::Saturation) if r.target != of => self
                    .share(r.scenario, r.target, of)
                    .map_or("n/a".into(), |x| format!("{:.0}%", x * 100.0)),
                _ => String::new(),
            };
            let (vs_direct, vs_service) = (share(Target::Direct), share(Target::Service));
            let (cpu, rss) = match r.target {
                Target::Adminql | Target::Service => (
                    format!("{:.3}", r.server_cpu_s_per_1k),
                    format!("{:.1}", mb(r.server_peak_rss)),
                ),
                Target::Direct => (String::new(), String::new()),
            };
            rows.push([
                r.scenario.label().to_owned(),
                r.target.name().to_owned(),
                load,
                format!("{:.0}", r.throughput),
                vs_direct,
                vs_service,
                format!("{:.2}", r.p50_ms),
                format!("{:.2}", r.p95_ms),
                format!("{:.2}", r.p99_ms),
                format!("{}", r.failures),
                format!("{:.2} ({:.2})", r.statements_per_op, r.prepares_per_op),
                cpu,
                format!("{:.3}", r.db_cpu_s_per_1k),
                rss,
            ]);
        }
        rows
    }

    const HEADER: [&'static str; 14] = [
        "scenario",
        "client",
        "load",
        "req/s",
        "vs direct SQL",
        "vs service",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "failed",
        "stmts/op (prepares)",
        "server CPU s/1k req",
        "DB CPU s/1k req",
        "server peak RSS MB",
    ];

    /// Average and largest share of the CPU other processes used during the runs.
    pub fn other_load(&self) -> (f64, f64) {
        Self::avg_max(self.runs.iter().map(|r| r.other_cpu_share))
    }

    /// Average and largest share of the CPU the hypervisor stole during the runs.
    pub fn steal(&self) -> (f64, f64) {
        Self::avg_max(self.runs.iter().map(|r| r.steal_share))
    }

    fn avg_max(shares: impl Iterator<Item = f64>) -> (f64, f64) {
        let shares: Vec<f64> = shares.collect();
        let avg = shares.iter().sum::<f64>() / shares.len().max(1) as f64;
        (avg, shares.iter().copied().fold(0.0, f64::max))
    }

    /// The main table, aligned for a terminal.
    pub fn text(&self) -> String {
        let rows = self.rows();
        let mut widths = Self::HEADER.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = format!(
            "adminql {} on {} ({} cores)\n",
            self.commit, self.machine.cpu, self.machine.cores
        );
        let line = |cells: Vec<&str>| {
            cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        let _ = writeln!(out, "{}", line(Self::HEADER.to_vec()));
        for row in &rows {
            let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
        }
        let (avg, max) = self.other_load();
        let (steal, steal_max) = self.steal();
        let _ = writeln!(
            out,
            "\nOther processes used {:.0}% of the machine's CPU on average during the runs (at most {:.0}%); the hypervisor took {:.0}% (at most {:.0}%).",
            avg * 100.0,
            max * 100.0,
            steal * 100.0,
            steal_max * 100.0
        );
        for (before, seconds) in &self.rotation_waits {
            let _ = writeln!(
                out,
                "Waited {seconds:.1}s for adminql to put the replica back in rotation ({before})."
            );
        }
        for (message, n) in &self.adminql_warnings {
            let _ = writeln!(out, "adminql logged {n}× {message}");
        }
        for c in &self.checks {
            let _ = writeln!(
                out,
                "[{}] {}: {}",
                match (c.informational, c.met) {
                    (true, _) => "info",
                    (false, true) => "met",
                    (false, false) => "MISSED",
                },
                c.target,
                c.measured
            );
        }
        out
    }

    /// BENCHMARKS.md, whole: written by the program so no number is typed by hand.
    pub fn markdown(&self) -> String {
        crate::report_md::markdown(self, &Self::HEADER, &self.rows())
    }
}

/// A one-line summary of a run, for progress output.
pub fn line(r: &Measured) -> String {
    let load = match r.mode {
        Mode::Saturation => format!("{} clients", r.concurrency),
        Mode::FixedRate(rate) => format!("{rate:.0} req/s"),
    };
    format!(
        "{:<7} {:<12} {:>7.0} req/s  p50 {:>6.2}  p99 {:>7.2} ms  failed {}  stmts/op {:.2}{}",
        match r.target {
            Target::Adminql => "adminql",
            Target::Direct => "direct",
            Target::Service => "service",
        },
        load,
        r.throughput,
        r.p50_ms,
        r.p99_ms,
        r.failures,
        r.statements_per_op,
        r.failure_reasons
            .first()
            .map(|f| format!("  first failure: {f}"))
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::cpu_description;

    #[test]
    fn cpu_description_tells_generations_apart() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n\
                       model\t\t: 17\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2596.142\n";
        assert_eq!(
            cpu_description(cpuinfo),
            "AMD EPYC, family 25 model 17, 2596 MHz"
        );
        assert_eq!(cpu_description("model name\t: Some CPU\n"), "Some CPU");
        assert_eq!(cpu_description(""), "unknown CPU");
    }
}
