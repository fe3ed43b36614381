//! The orchestration: build, start the databases, adminql and the hand-written service,
//! seed, warm up, probe, run every scenario, report, and tear down.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::header::HeaderValue;
use serde_json::json;

use crate::Args;
use crate::cluster::{self, APP_USER, Cluster, DIRECT_USER, SERVICE_USER};
use crate::dbstats;
use crate::direct::Direct;
use crate::load::{self, Sample};
use crate::minimal::Pools;
use crate::procfs;
use crate::report::Report;
use crate::scenario::{self, Graphql, Scenario};
use crate::seed::{self, Dataset, Size};
use crate::server::{self, ADMIN_EMAIL, ADMIN_PASSWORD, Server};
use crate::service::process::Service;
use crate::{measure, probe};

/// The repository root (bench/ is one level down).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

/// Everything a measured run needs to reach.
pub struct Env {
    pub cluster: Cluster,
    pub server: Server,
    /// The hand-written service (the second baseline).
    pub service: Service,
    pub data: Arc<Dataset>,
    pub token: HeaderValue,
    /// The direct-SQL baseline's pools.
    pub pools: Pools,
    pub args: Args,
    /// What adminql sends on its own, measured once idle.
    pub background: probe::Background,
    /// CPUs of the machine.
    pub cores: usize,
}

/// Runs the benchmark; `Ok(false)` when any response failed.
pub async fn main(args: Args) -> anyhow::Result<bool> {
    let started = Instant::now();
    for key in &args.only {
        let keys: Vec<&str> = Scenario::RUN_ORDER.iter().map(|s| s.key()).collect();
        anyhow::ensure!(
            keys.contains(&key.as_str()),
            "--only: unknown scenario '{key}' (one of {})",
            keys.join(", ")
        );
    }
    let repo = repo_root();
    let build = match (&args.adminql_bin, &args.rev) {
        (Some(bin), _) => server::Build {
            binary: bin.clone(),
            commit: "unknown (--adminql-bin)".into(),
        },
        (None, Some(rev)) => server::build_rev(&repo, rev, &repo.join("bench/target/adminql"))?,
        (None, None) => server::build_working_tree(&repo)?,
    };
    let work = std::env::temp_dir().join(format!("adminql-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = run(args, build, &work, started).await;
    // adminql's log outlives the run, for a look at what it warned about.
    let _ = std::fs::copy(
        work.join("adminql.log"),
        repo.join("bench/target/adminql.log"),
    );
    let _ = std::fs::remove_dir_all(&work);
    result
}

async fn run(
    args: Args,
    build: server::Build,
    work: &Path,
    started: Instant,
) -> anyhow::Result<bool> {
    let cluster = cluster::start(work)?;
    let server = Server::start(
        &build.binary,
        &cluster,
        args.pool_size,
        &args.adminql_env,
        &work.join("adminql.log"),
    )
    .await?;
    let token = login(&server).await?;
    let mut rng = fastrand::Rng::with_seed(args.seed);
    let size = Size {
        users: args.users,
        roles: args.roles,
    };
    let data = Arc::new(seed::seed(&cluster, server.addr, &token, size, &mut rng).await?);
    let pools = Pools::new(
        &cluster::url(&cluster.primary, DIRECT_USER),
        &cluster::url(cluster::replica(&cluster), DIRECT_USER),
        args.pool_size,
    )?;
    let service = Service::start(&cluster, args.pool_size).await?;
    let env = Env {
        cluster,
        server,
        service,
        data,
        token,
        pools,
        args: args.clone(),
        background: probe::Background::default(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };

    let mut waits = Vec::new();
    wait_in_rotation(&env, "before the warm-up", &mut waits).await?;
    if args.pause > 0.0 {
        eprintln!(
            "bench: pausing {}s; primary socket {}",
            args.pause,
            env.cluster.primary.socket().display()
        );
        tokio::time::sleep(Duration::from_secs_f64(args.pause)).await;
    }
    // Warm up every client (connection pools, statement caches, buffer pool).
    let warmup = Duration::from_secs_f64(args.initial_warmup);
    eprintln!("bench: warming up for {warmup:?}");
    closed(&env, Target::Adminql, Scenario::Mixed, warmup).await;
    closed(&env, Target::Direct, Scenario::Mixed, warmup / 2).await;
    closed(&env, Target::Service, Scenario::Mixed, warmup / 2).await;

    let mut env = env;
    wait_in_rotation(&env, "before the probes", &mut waits).await?;
    env.background = probe::background(&env).await?;
    let compared = probe::compare(&env, &env.background).await?;
    if args.show_sql {
        for c in &compared {
            println!("{}", c.text());
        }
        env.pools.close().await;
        return Ok(true);
    }
    let page_costs = probe::page_costs(&env, &env.background).await?;
    let plans = probe::plans(&env)?;
    let prepared_before = dbstats::prepared_count(&env.cluster)?;

    let mut measured = Vec::new();
    for scenario in Scenario::RUN_ORDER {
        if !args.only.is_empty() && !args.only.iter().any(|k| k == scenario.key()) {
            continue;
        }
        eprintln!("bench: {}", scenario.label());
        wait_in_rotation(&env, scenario.label(), &mut waits).await?;
        let saturated = measure::saturation(&env, scenario).await?;
        let rate = saturated[0].throughput / 2.0;
        // The baselines at adminql's rate: what latency the database alone, and a minimal
        // service, give there.
        for run in saturated {
            let fixed = measure::fixed_rate(&env, scenario, run.target, rate).await?;
            measured.push(run);
            measured.push(fixed);
        }
    }
    let prepared_after = dbstats::prepared_count(&env.cluster)?;
    env.pools.close().await;

    let report = Report::new(
        &args,
        build,
        measured,
        page_costs,
        compared,
        plans,
        env.background.clone(),
        waits,
        Server::warnings(&work.join("adminql.log")),
        prepared_before,
        prepared_after,
        procfs::peak_rss(env.server.pid),
        started.elapsed(),
    );
    println!("{}", report.text());
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", args.json.display()))?;
    eprintln!("bench: wrote {}", args.json.display());
    if let Some(path) = &args.markdown {
        std::fs::write(path, report.markdown())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
    }
    let failures: u64 = report.runs.iter().map(|r| r.failures).sum();
    if failures > 0 {
        eprintln!("bench: {failures} failed responses");
    }
    let Env {
        cluster,
        mut server,
        service,
        ..
    } = env;
    server.stop();
    drop(service);
    // Kills both servers and removes their files.
    drop(cluster);
    Ok(failures == 0)
}

/// Makes sure adminql reads from the replica before a measurement (the baseline always
/// does); records any wait.
async fn wait_in_rotation(
    env: &Env,
    before: &str,
    waits: &mut Vec<(String, f64)>,
) -> anyhow::Result<()> {
    let waited = env
        .server
        .wait_in_rotation(Duration::from_secs(90))
        .await
        .with_context(|| {
            let status = cluster::replica(&env.cluster).replication_status();
            format!("replica: {status}")
        })?;
    if waited > Duration::from_millis(300) {
        eprintln!(
            "bench: waited {:.1}s for the replica to return to adminql's rotation ({before})",
            waited.as_secs_f64()
        );
        waits.push((before.to_owned(), waited.as_secs_f64()));
    }
    Ok(())
}

async fn login(server: &Server) -> anyhow::Result<HeaderValue> {
    let data = scenario::graphql(
        server.addr,
        None,
        scenario::LOGIN,
        json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
    )
    .await?;
    let token = data["login"]["token"]
        .as_str()
        .context("login returned no token")?;
    Ok(HeaderValue::from_str(&format!("Bearer {token}"))?)
}

/// Who answers the requests of a measured run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Adminql,
    /// The minimal statements sent from the bench process: issue 16's baseline.
    Direct,
    /// The hand-written HTTP service sending the minimal statements.
    Service,
}

impl Target {
    /// The MariaDB account its statements run as.
    pub fn account(self) -> &'static str {
        match self {
            Target::Adminql => APP_USER,
            Target::Direct => DIRECT_USER,
            Target::Service => SERVICE_USER,
        }
    }

    /// Its server process, whose CPU and memory the run reports (the direct client runs in
    /// the bench process and has none).
    pub fn pid(self, env: &Env) -> Option<u32> {
        match self {
            Target::Adminql => Some(env.server.pid),
            Target::Direct => None,
            Target::Service => Some(env.service.pid),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::Adminql => "adminql",
            Target::Direct => "direct SQL",
            Target::Service => "hand-written service",
        }
    }
}

pub fn adminql_client(env: &Env, scenario: Scenario, per_page: usize) -> Arc<Graphql> {
    Arc::new(Graphql {
        addr: env.server.addr,
        token: env.token.clone(),
        data: env.data.clone(),
        scenario,
        per_page,
    })
}

/// The hand-written service, driven like adminql (same requests, same body checks).
pub fn service_client(env: &Env, scenario: Scenario) -> Arc<Graphql> {
    Arc::new(Graphql {
        addr: env.service.addr,
        token: env.token.clone(),
        data: env.data.clone(),
        scenario,
        per_page: scenario::PAGE_SIZE,
    })
}

pub fn direct_client(env: &Env, scenario: Scenario) -> Arc<Direct> {
    Arc::new(Direct::new(
        &env.pools,
        env.data.clone(),
        scenario,
        scenario::PAGE_SIZE,
    ))
}

/// `target` under closed-loop load for `duration`, unmeasured (a warm-up).
async fn closed(env: &Env, target: Target, scenario: Scenario, duration: Duration) -> Sample {
    let (concurrency, seed) = (env.args.concurrency, env.args.seed);
    match target {
        Target::Adminql => {
            let client = adminql_client(env, scenario, scenario::PAGE_SIZE);
            load::closed_loop(client, Arc::default(), concurrency, duration, seed).await
        }
        Target::Direct => {
            let client = direct_client(env, scenario);
            load::closed_loop(client, Arc::default(), concurrency, duration, seed).await
        }
        Target::Service => {
            let client = service_client(env, scenario);
            load::closed_loop(client, Arc::default(), concurrency, duration, seed).await
        }
    }
}
