//! Measured runs: the client-side sample plus what the operating system and the database
//! servers counted meanwhile (CPU, statements, prepared statements, the server's peak RSS).
//!
//! At saturation adminql and the two baselines alternate in `--rounds` slices, so whatever
//! else the shared machine does during the run weighs on all three alike and their ratios
//! stay fair.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dbstats;
use crate::load::{self, Client, Sample, Sessions};
use crate::procfs;
use crate::report::{self, Measured, Mode};
use crate::run::{Env, Target, adminql_client, direct_client, service_client};
use crate::scenario::{self, Scenario};

/// Counters sampled at the start and end of a slice.
struct Counters {
    at: Instant,
    adminql_cpu: f64,
    service_cpu: f64,
    db_cpu: f64,
    loadgen_cpu: f64,
    machine_busy: f64,
    machine_steal: f64,
    statements: dbstats::Counters,
    prepared: u64,
}

fn counters(env: &Env, target: Target) -> anyhow::Result<Counters> {
    let prepared = dbstats::prepared_count(&env.cluster)?;
    Ok(Counters {
        at: Instant::now(),
        adminql_cpu: procfs::cpu_seconds(env.server.pid).unwrap_or(0.0),
        service_cpu: procfs::cpu_seconds(env.service.pid).unwrap_or(0.0),
        db_cpu: env
            .cluster
            .servers()
            .filter_map(|s| s.pid().and_then(procfs::cpu_seconds))
            .sum(),
        loadgen_cpu: procfs::own_cpu_seconds(),
        machine_busy: procfs::machine_busy_seconds(),
        machine_steal: procfs::machine_steal_seconds(),
        statements: dbstats::counters(&env.cluster, target.account())?,
        prepared: prepared.primary + prepared.replica,
    })
}

/// One client's slices, summed.
struct Acc {
    scenario: Scenario,
    target: Target,
    mode: Mode,
    sample: Sample,
    seconds: f64,
    adminql_cpu: f64,
    service_cpu: f64,
    db_cpu: f64,
    loadgen_cpu: f64,
    machine_busy: f64,
    machine_steal: f64,
    statements: dbstats::Counters,
    peak_rss: Option<u64>,
    prepared_first: Option<u64>,
    prepared_growth: i64,
}

impl Acc {
    fn new(scenario: Scenario, target: Target, mode: Mode) -> Acc {
        Acc {
            scenario,
            target,
            mode,
            sample: Sample::default(),
            seconds: 0.0,
            adminql_cpu: 0.0,
            service_cpu: 0.0,
            db_cpu: 0.0,
            loadgen_cpu: 0.0,
            machine_busy: 0.0,
            machine_steal: 0.0,
            statements: dbstats::Counters::default(),
            peak_rss: None,
            prepared_first: None,
            prepared_growth: 0,
        }
    }

    fn add(&mut self, sample: Sample, before: &Counters, after: &Counters, peak: Option<u64>) {
        let elapsed = sample.elapsed;
        self.sample.merge(sample);
        self.sample.elapsed += elapsed;
        self.seconds += after.at.duration_since(before.at).as_secs_f64();
        self.adminql_cpu += after.adminql_cpu - before.adminql_cpu;
        self.service_cpu += after.service_cpu - before.service_cpu;
        self.db_cpu += after.db_cpu - before.db_cpu;
        self.loadgen_cpu += after.loadgen_cpu - before.loadgen_cpu;
        self.machine_busy += after.machine_busy - before.machine_busy;
        self.machine_steal += after.machine_steal - before.machine_steal;
        self.statements = self
            .statements
            .plus(&after.statements.delta(&before.statements));
        self.peak_rss = self.peak_rss.max(peak);
        self.prepared_first.get_or_insert(before.prepared);
        self.prepared_growth = self
            .prepared_growth
            .max(after.prepared as i64 - before.prepared as i64);
    }

    fn finish(mut self, env: &Env) -> Measured {
        let concurrency = env.args.concurrency;
        let requests = self.sample.requests().max(1) as f64;
        let bg = &env.background;
        // adminql's own background statements run as its account; prepares are server-wide.
        let own = match self.target {
            Target::Adminql => bg.statements_per_s,
            Target::Direct | Target::Service => 0.0,
        };
        let statements = bg.net(self.statements.statements, self.seconds, own);
        let prepares = bg.net(self.statements.prepares, self.seconds, bg.prepares_per_s);
        let first = self.prepared_first.unwrap_or(0);
        let measured = Measured {
            scenario: self.scenario,
            target: self.target,
            mode: self.mode,
            concurrency,
            requests: self.sample.requests(),
            failures: self.sample.failures,
            failure_reasons: self.sample.failure_reasons.clone(),
            late: self.sample.late,
            seconds: self.seconds,
            throughput: self.sample.throughput(),
            p50_ms: self.sample.percentile_ms(0.50),
            p95_ms: self.sample.percentile_ms(0.95),
            p99_ms: self.sample.percentile_ms(0.99),
            max_ms: self.sample.percentile_ms(1.0),
            histogram_ms: self
                .sample
                .histogram()
                .into_iter()
                .map(|(bound, n)| {
                    (
                        if bound.is_finite() {
                            format!("≤{bound}")
                        } else {
                            "more".into()
                        },
                        n,
                    )
                })
                .collect(),
            statements_per_op: statements / requests,
            prepares_per_op: prepares / requests,
            server_cpu_s_per_1k: match self.target {
                Target::Adminql => self.adminql_cpu,
                Target::Direct => 0.0,
                Target::Service => self.service_cpu,
            } / requests
                * 1000.0,
            db_cpu_s_per_1k: self.db_cpu / requests * 1000.0,
            loadgen_cpu_s_per_1k: self.loadgen_cpu / requests * 1000.0,
            server_peak_rss: self.peak_rss,
            replica_share: self.statements.replica_statements as f64
                / (self.statements.statements.max(1)) as f64,
            steal_share: (self.machine_steal / (self.seconds * env.cores as f64).max(1e-9))
                .clamp(0.0, 1.0),
            other_cpu_share: {
                // Both servers count in every slice: the one not measured idles (adminql's
                // replica monitor), which is the benchmark's own load, not outside work.
                let ours = self.adminql_cpu + self.service_cpu + self.db_cpu + self.loadgen_cpu;
                let capacity = self.seconds * env.cores as f64;
                ((self.machine_busy - ours) / capacity.max(1e-9)).clamp(0.0, 1.0)
            },
            prepared_before: first,
            prepared_after: (first as i64 + self.prepared_growth).max(0) as u64,
        };
        eprintln!("bench:   {}", report::line(&measured));
        measured
    }
}

/// A client ready to be measured: its sessions persist across slices.
struct Prepared<C: Client> {
    client: Arc<C>,
    sessions: Arc<Sessions<C>>,
    target: Target,
}

impl<C: Client> Prepared<C> {
    async fn warm(env: &Env, client: Arc<C>, target: Target, seed: u64) -> anyhow::Result<Self> {
        let sessions = Arc::new(Sessions::<C>::default());
        let warm = load::closed_loop(
            client.clone(),
            sessions.clone(),
            env.args.concurrency,
            env.args.warmup(),
            seed,
        )
        .await;
        anyhow::ensure!(
            warm.failures == 0,
            "warm-up of {} failed: {:?}",
            target.name(),
            warm.failure_reasons
        );
        Ok(Prepared {
            client,
            sessions,
            target,
        })
    }

    fn cold(client: Arc<C>, target: Target) -> Self {
        Prepared {
            client,
            sessions: Arc::new(Sessions::default()),
            target,
        }
    }

    async fn slice(
        &self,
        env: &Env,
        acc: &mut Acc,
        duration: Duration,
        seed: u64,
    ) -> anyhow::Result<()> {
        let pid = self.target.pid(env);
        if let Some(pid) = pid {
            procfs::reset_peak_rss(pid);
        }
        let perf = match (env.args.perf, pid, acc.mode) {
            (true, Some(pid), Mode::Saturation) => {
                Some(perf_record(pid, acc.scenario, self.target, duration)?)
            }
            _ => None,
        };
        let before = counters(env, self.target)?;
        let sample = match acc.mode {
            Mode::Saturation => {
                load::closed_loop(
                    self.client.clone(),
                    self.sessions.clone(),
                    env.args.concurrency,
                    duration,
                    seed,
                )
                .await
            }
            Mode::FixedRate(rate) => {
                load::open_loop(
                    self.client.clone(),
                    self.sessions.clone(),
                    rate,
                    env.args.concurrency * 8,
                    duration,
                    seed,
                    env.args.slow_log,
                )
                .await
            }
        };
        let after = counters(env, self.target)?;
        if let Some(mut perf) = perf {
            perf.wait().await?;
        }
        let peak = pid.and_then(procfs::peak_rss);
        acc.add(sample, &before, &after, peak);
        Ok(())
    }
}

/// Starts `perf record` on the server process `pid` for `duration`, into
/// bench/target/perf/<scenario>.data (adminql) or <scenario>-service.data.
fn perf_record(
    pid: u32,
    scenario: Scenario,
    target: Target,
    duration: Duration,
) -> anyhow::Result<tokio::process::Child> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/perf");
    std::fs::create_dir_all(&dir)?;
    let suffix = match target {
        Target::Service => "-service",
        Target::Adminql | Target::Direct => "",
    };
    let out = dir.join(format!("{}{suffix}.data", scenario.key()));
    eprintln!("bench:   perf record → {}", out.display());
    Ok(tokio::process::Command::new("perf")
        .args([
            "record",
            "-q",
            "-F",
            "499",
            "-e",
            "cpu-clock",
            "--call-graph",
            "dwarf,16384",
            "-p",
        ])
        .arg(pid.to_string())
        .arg("-o")
        .arg(&out)
        .arg("--")
        .arg("sleep")
        .arg(format!("{:.1}", duration.as_secs_f64()))
        .stdout(std::process::Stdio::null())
        .spawn()?)
}

fn seed_of(env: &Env, scenario: Scenario, salt: u64) -> u64 {
    env.args.seed ^ ((scenario as u64) << 8) ^ (salt << 16)
}

/// adminql at saturation and, where there are, the two baselines at the same concurrency,
/// alternating slice by slice.
pub async fn saturation(env: &Env, scenario: Scenario) -> anyhow::Result<Vec<Measured>> {
    let rounds = env.args.rounds.max(1);
    let slice = env.args.duration() / rounds as u32;
    let adminql = Prepared::warm(
        env,
        adminql_client(env, scenario, scenario::PAGE_SIZE),
        Target::Adminql,
        seed_of(env, scenario, 1),
    )
    .await?;
    let mut a = Acc::new(scenario, Target::Adminql, Mode::Saturation);
    if !scenario.has_baseline() {
        for round in 0..rounds as u64 {
            adminql
                .slice(env, &mut a, slice, seed_of(env, scenario, 10 + round))
                .await?;
        }
        return Ok(vec![a.finish(env)]);
    }
    let direct = Prepared::warm(
        env,
        direct_client(env, scenario),
        Target::Direct,
        seed_of(env, scenario, 2),
    )
    .await?;
    let service = Prepared::warm(
        env,
        service_client(env, scenario),
        Target::Service,
        seed_of(env, scenario, 6),
    )
    .await?;
    let mut d = Acc::new(scenario, Target::Direct, Mode::Saturation);
    let mut s = Acc::new(scenario, Target::Service, Mode::Saturation);
    for round in 0..rounds as u64 {
        adminql
            .slice(env, &mut a, slice, seed_of(env, scenario, 10 + round))
            .await?;
        direct
            .slice(env, &mut d, slice, seed_of(env, scenario, 20 + round))
            .await?;
        service
            .slice(env, &mut s, slice, seed_of(env, scenario, 30 + round))
            .await?;
    }
    Ok(vec![a.finish(env), d.finish(env), s.finish(env)])
}

/// `target` at a fixed request rate, for latency.
pub async fn fixed_rate(
    env: &Env,
    scenario: Scenario,
    target: Target,
    rate: f64,
) -> anyhow::Result<Measured> {
    let mut acc = Acc::new(scenario, target, Mode::FixedRate(rate));
    let seed = seed_of(env, scenario, 3 + target as u64);
    let duration = env.args.duration();
    match target {
        Target::Adminql => {
            let client = adminql_client(env, scenario, scenario::PAGE_SIZE);
            Prepared::cold(client, target)
                .slice(env, &mut acc, duration, seed)
                .await?;
        }
        Target::Direct => {
            let client = direct_client(env, scenario);
            Prepared::cold(client, target)
                .slice(env, &mut acc, duration, seed)
                .await?;
        }
        Target::Service => {
            let client = service_client(env, scenario);
            Prepared::cold(client, target)
                .slice(env, &mut acc, duration, seed)
                .await?;
        }
    }
    Ok(acc.finish(env))
}
