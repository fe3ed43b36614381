//! Probes outside the load: what the server does while idle, what one request of each kind
//! sends to MariaDB (general log), statements per request by page size, and query plans.

use std::time::{Duration, Instant};

use crate::cluster::{APP_USER, DIRECT_USER};
use crate::compare::Compared;
use crate::dbstats::{self, Logged};
use crate::http::Connection;
use crate::report::PageCost;
use crate::run::{Env, adminql_client, direct_client};
use crate::scenario::{self, Op, Scenario};

/// What adminql sends while no request comes in (its replica monitor: heartbeat on the
/// primary, lag and status probes on the replica). Subtracted from per-request counts.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Background {
    pub statements_per_s: f64,
    pub prepares_per_s: f64,
    /// The idle statements themselves (general log), to tell them apart from a request's.
    pub statements: Vec<Logged>,
}

impl Background {
    /// `counted` statements over `seconds`, less what adminql sends on its own meanwhile.
    pub fn net(&self, counted: u64, seconds: f64, per_second: f64) -> f64 {
        (counted as f64 - per_second * seconds).max(0.0)
    }

    /// Whether `log` holds a statement only the background sends (not a ping or a close).
    fn intrudes(&self, log: &[Logged]) -> bool {
        log.iter().any(|l| {
            l.command != "Close stmt"
                && l.sql != "SELECT ?"
                && self
                    .statements
                    .iter()
                    .any(|b| b.server == l.server && b.sql == l.sql)
        })
    }
}

/// Watches an idle adminql for a few seconds.
pub async fn background(env: &Env) -> anyhow::Result<Background> {
    let seconds = if env.args.smoke { 1.5 } else { 5.0 };
    dbstats::general_log_on(&env.cluster)?;
    let before = dbstats::counters(&env.cluster, APP_USER)?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let after = dbstats::counters(&env.cluster, APP_USER)?.delta(&before);
    let elapsed = started.elapsed().as_secs_f64();
    let statements = dbstats::general_log_off(&env.cluster, APP_USER)?;
    Ok(Background {
        statements_per_s: after.statements as f64 / elapsed,
        prepares_per_s: after.prepares as f64 / elapsed,
        statements,
    })
}

/// The statements of one request of each baseline operation, from adminql and from the
/// baseline (the minimum), side by side. A capture that caught a background statement is
/// taken again.
pub async fn compare(env: &Env, background: &Background) -> anyhow::Result<Vec<Compared>> {
    let mut out = Vec::new();
    let mut rng = fastrand::Rng::with_seed(env.args.seed ^ 0xF1);
    for op in [Op::UserById, Op::UserList, Op::UpdateUser] {
        let scenario = match op {
            Op::UserById => Scenario::UserById,
            Op::UserList => Scenario::UserList,
            _ => Scenario::UpdateUser,
        };
        let client = adminql_client(env, scenario, scenario::PAGE_SIZE);
        let mut conn = Connection::open(env.server.addr).await?;
        let mut adminql = Vec::new();
        for _ in 0..8 {
            dbstats::general_log_on(&env.cluster)?;
            client
                .send(&mut conn, op, &mut rng)
                .await
                .map_err(anyhow::Error::msg)?;
            adminql = dbstats::general_log_off(&env.cluster, APP_USER)?;
            if !background.intrudes(&adminql) {
                break;
            }
            // Longer than adminql's total cache (1 s), so a retaken list request counts again
            // like the baseline's first one.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let direct = direct_client(env, scenario);
        dbstats::general_log_on(&env.cluster)?;
        direct.run(op, &mut rng).await.map_err(anyhow::Error::msg)?;
        let baseline = dbstats::general_log_off(&env.cluster, DIRECT_USER)?;
        out.push(Compared::new(op, adminql, baseline));
    }
    Ok(out)
}

/// Statements per `allUsers` request at several page sizes (sequential requests, less the
/// background).
pub async fn page_costs(env: &Env, background: &Background) -> anyhow::Result<Vec<PageCost>> {
    let n = if env.args.smoke { 60 } else { 300 };
    let mut out = Vec::new();
    let mut rng = fastrand::Rng::with_seed(env.args.seed ^ 0xCA);
    let mut conn = Connection::open(env.server.addr).await?;
    for per_page in [5, 20, 100] {
        let client = adminql_client(env, Scenario::UserList, per_page);
        let started = Instant::now();
        let before = dbstats::counters(&env.cluster, APP_USER)?;
        for _ in 0..n {
            client
                .send(&mut conn, Op::UserList, &mut rng)
                .await
                .map_err(anyhow::Error::msg)?;
        }
        let after = dbstats::counters(&env.cluster, APP_USER)?.delta(&before);
        let seconds = started.elapsed().as_secs_f64();
        out.push(PageCost {
            per_page,
            requests: n,
            statements_per_op: background.net(
                after.statements,
                seconds,
                background.statements_per_s,
            ) / n as f64,
            prepares_per_op: background.net(after.prepares, seconds, background.prepares_per_s)
                / n as f64,
        });
    }
    Ok(out)
}

/// Query plans of the baseline's scenario 2 statements on the replica, at pages it reads.
pub fn plans(env: &Env) -> anyhow::Result<Vec<dbstats::Plan>> {
    use crate::minimal::{AUTH, COUNT_USERS, page_sql, roles_sql};
    let per_page = scenario::PAGE_SIZE;
    let pages = (env.data.total_users as usize / per_page).clamp(1, scenario::PAGES);
    let page: Vec<String> = env
        .data
        .user_ids
        .iter()
        .take(per_page)
        .map(i64::to_string)
        .collect();
    let page: Vec<&str> = page.iter().map(String::as_str).collect();
    let mut statements = vec![(
        "auth check".to_owned(),
        dbstats::bind(AUTH, &[&env.data.admin_id.to_string()]),
    )];
    for n in [0, pages / 4, pages - 1] {
        statements.push((
            format!("allUsers page {n} (OFFSET {}) and its rows", n * per_page),
            dbstats::bind(
                &page_sql(),
                &["''", &per_page.to_string(), &(n * per_page).to_string()],
            ),
        ));
    }
    statements.push((
        "roles of the page's users".into(),
        dbstats::bind(&roles_sql(page.len()), &page),
    ));
    statements.push(("_allUsersMeta".into(), COUNT_USERS.to_owned()));
    dbstats::explain(&env.cluster, &statements)
}
