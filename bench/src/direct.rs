//! The baseline: the fewest statements that give each operation's answer with adminql's
//! guarantees, written once from the schema (migrations/mysql), not copied from adminql's
//! general log. A hand-written mysql_async client, as a service coded for these three
//! requests alone would be:
//!
//! - a pool of `DB_POOL_SIZE` connections per server, reads on the replica and writes on
//!   the primary, one checkout per request and no liveness ping on checkout;
//! - the auth check in one statement: the caller's `active`, `token_version` and permission
//!   codes (users LEFT JOIN user_roles → role_permissions → permissions), on the server the
//!   request reads from, refused unless the user is active, the token's version is current
//!   and the operation's permission is among the codes;
//! - prepared statements kept per connection (`IN` lists too: one statement per list
//!   length, and a page has a fixed length);
//! - `User(id)`: auth + the row = 2;
//! - `allUsers { roles }` + `_allUsersMeta`: auth + the page and its rows in one statement (a
//!   deferred join on the sort index) + the roles of those users; the total is kept for 1 s
//!   as adminql's count cache keeps it (`GRAPHQL_COUNT_CACHE_TTL`), so 3, and 4 once a
//!   second;
//! - `updateUser(name)`: auth on the primary + `BEGIN`, the row `FOR UPDATE` (the audit's
//!   "before" and, with the two columns the update sets, the answer), the `UPDATE`, the audit
//!   row, `COMMIT`, and `SELECT @@last_gtid` for the consistency token adminql hands to the
//!   client = 7. mysql_async does not expose MariaDB's session tracking of `last_gtid` in the
//!   `COMMIT`'s OK packet, which would save the last one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Row, Statement, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::cluster::{Cluster, DIRECT_USER, replica, url};
use crate::load::Client;
use crate::scenario::{Op, PAGES, Scenario};
use crate::seed::Dataset;

/// Connections to one server, at most `size` of them.
struct Pool {
    opts: Opts,
    idle: Mutex<Vec<Cached>>,
    permits: Arc<Semaphore>,
}

/// A connection and its prepared statements.
struct Cached {
    conn: Conn,
    statements: HashMap<String, Statement>,
}

/// A checked-out connection; back to the pool on drop.
struct Checkout<'a> {
    pool: &'a Pool,
    cached: Option<Cached>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        if let Some(cached) = self.cached.take() {
            self.pool.idle.lock().expect("pool lock").push(cached);
        }
    }
}

impl Pool {
    fn new(url: &str, size: usize, read_only: bool) -> anyhow::Result<Pool> {
        // adminql's session guarantees (src/db/pool.rs), set once per connection: UTC,
        // utf8mb4, its default DB_STATEMENT_TIMEOUT (which makes MariaDB arm a timer for every
        // statement), and read-only sessions on the replica.
        let mut init =
            vec!["SET time_zone = '+00:00', NAMES utf8mb4, SESSION max_statement_time = 5"];
        if read_only {
            init.push("SET SESSION TRANSACTION READ ONLY");
        }
        let opts = OptsBuilder::from_opts(Opts::from_url(url)?)
            .init(init)
            .stmt_cache_size(0)
            .client_found_rows(true);
        Ok(Pool {
            opts: opts.into(),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size)),
        })
    }

    /// A connection, without a round trip if one is idle: a broken one shows as the error of
    /// the request's first statement (the benchmark restarts no server).
    async fn get(&self) -> Result<Checkout<'_>, String> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let idle = self.idle.lock().expect("pool lock").pop();
        let cached = match idle {
            Some(c) => c,
            None => Cached {
                conn: Conn::new(self.opts.clone())
                    .await
                    .map_err(|e| format!("connect: {e}"))?,
                statements: HashMap::new(),
            },
        };
        Ok(Checkout {
            pool: self,
            cached: Some(cached),
            _permit: permit,
        })
    }

    async fn close(&self) {
        let conns: Vec<Cached> = std::mem::take(&mut *self.idle.lock().expect("pool lock"));
        for c in conns {
            let _ = c.conn.disconnect().await;
        }
    }
}

impl Cached {
    async fn statement(&mut self, sql: &str) -> Result<Statement, String> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self
            .conn
            .prep(sql)
            .await
            .map_err(|e| format!("prepare: {e}"))?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    async fn exec_first(&mut self, sql: &str, params: Vec<Value>) -> Result<Option<Row>, String> {
        let stmt = self.statement(sql).await?;
        self.conn
            .exec_first(&stmt, Params::Positional(params))
            .await
            .map_err(|e| format!("{sql}: {e}"))
    }

    async fn exec(&mut self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, String> {
        let stmt = self.statement(sql).await?;
        self.conn
            .exec(&stmt, Params::Positional(params))
            .await
            .map_err(|e| format!("{sql}: {e}"))
    }

    /// A statement that returns no rows; its affected-row count.
    async fn exec_drop(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, String> {
        let stmt = self.statement(sql).await?;
        self.conn
            .exec_drop(&stmt, Params::Positional(params))
            .await
            .map_err(|e| format!("{sql}: {e}"))?;
        Ok(self.conn.affected_rows())
    }

    async fn query(&mut self, sql: &'static str) -> Result<(), String> {
        self.conn
            .query_drop(sql)
            .await
            .map_err(|e| format!("{sql}: {e}"))
    }
}

impl Checkout<'_> {
    fn conn(&mut self) -> &mut Cached {
        self.cached.as_mut().expect("checked out")
    }
}

/// The baseline's pools: one per server, shared by every scenario.
pub struct Pools {
    primary: Arc<Pool>,
    replica: Arc<Pool>,
}

impl Pools {
    pub fn new(cluster: &Cluster, size: usize) -> anyhow::Result<Pools> {
        Ok(Pools {
            primary: Arc::new(Pool::new(&url(&cluster.primary, DIRECT_USER), size, false)?),
            replica: Arc::new(Pool::new(&url(replica(cluster), DIRECT_USER), size, true)?),
        })
    }

    pub async fn close(&self) {
        self.primary.close().await;
        self.replica.close().await;
    }
}

/// The auth check: one row per permission code (one row with a NULL code for a user without
/// any), none for an unknown user.
pub const AUTH: &str = "SELECT u.active, u.token_version, p.code FROM users u \
     LEFT JOIN user_roles ur ON ur.user_id = u.id \
     LEFT JOIN role_permissions rp ON rp.role_id = ur.role_id \
     LEFT JOIN permissions p ON p.id = rp.permission_id \
     WHERE u.id = ?";
/// The columns of a `User` (never the password hash).
const USER_COLUMNS: &str =
    "u.id, u.email, u.name, u.active, u.token_version, u.created_at, u.updated_at, u.last_login_at";
/// The page's ids from an index-only range read of `users_email` (`email >= ''` holds for
/// every row and keeps MariaDB from a full scan and filesort at deep pages), joined to their
/// rows by key.
pub fn page_sql() -> String {
    format!(
        "SELECT {USER_COLUMNS} FROM users u \
         JOIN (SELECT id FROM users WHERE email >= ? ORDER BY email LIMIT ? OFFSET ?) page \
         ON page.id = u.id ORDER BY u.email"
    )
}
/// The roles (the names the request selects) of `n` users.
pub fn roles_sql(n: usize) -> String {
    format!(
        "SELECT ur.user_id, r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
         WHERE ur.user_id IN ({}) ORDER BY ur.user_id, r.name",
        vec!["?"; n.max(1)].join(", ")
    )
}
pub const COUNT_USERS: &str = "SELECT COUNT(*) FROM users";
fn user_for_update() -> String {
    format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ? FOR UPDATE")
}
const UPDATE_NAME: &str = "UPDATE users SET name = ?, updated_at = ? WHERE id = ?";
const INSERT_AUDIT: &str = "INSERT INTO audit_log (at, actor_user_id, action, target_type, target_id, changes, request_id, client_ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
const LAST_GTID: &str = "SELECT @@last_gtid";

/// The bootstrap admin's token is issued at token version 0; the auth check compares.
const ADMIN_TOKEN_VERSION: i64 = 0;

/// The current UTC time as a MySQL `DATETIME(6)` value.
fn now() -> Value {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
    Value::Date(
        year,
        month,
        day,
        (rem / 3600) as u8,
        (rem % 3600 / 60) as u8,
        (rem % 60) as u8,
        since.subsec_micros(),
    )
}

/// The direct-SQL client for one scenario.
pub struct Direct {
    primary: Arc<Pool>,
    replica: Arc<Pool>,
    data: Arc<Dataset>,
    scenario: Scenario,
    per_page: usize,
    /// The signed-in admin whose auth check every request repeats.
    admin_id: i64,
    count_cache: CountCache,
}

/// When the baseline last counted the users: adminql's `_allUsersMeta` cache reduced to the
/// one filter the scenario uses (kept for the TTL, dropped by this client's own writes).
#[derive(Default)]
struct CountCache(std::sync::Mutex<Option<std::time::Instant>>);

/// adminql's default `GRAPHQL_COUNT_CACHE_TTL`.
const COUNT_TTL: std::time::Duration = std::time::Duration::from_secs(1);

impl CountCache {
    fn fresh(&self) -> bool {
        let at = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        at.is_some_and(|at| at.elapsed() < COUNT_TTL)
    }

    fn store(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
    }

    fn drop_all(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Direct {
    pub fn new(pools: &Pools, data: Arc<Dataset>, scenario: Scenario, per_page: usize) -> Direct {
        Direct {
            primary: pools.primary.clone(),
            replica: pools.replica.clone(),
            admin_id: data.admin_id,
            data,
            scenario,
            per_page,
            count_cache: CountCache::default(),
        }
    }

    /// The auth check on the request's connection: refused unless the caller exists, is
    /// active, holds a token of their current version and has `permission`.
    async fn auth(&self, conn: &mut Cached, permission: &str) -> Result<(), String> {
        let rows = conn.exec(AUTH, vec![Value::Int(self.admin_id)]).await?;
        let first = rows.first().ok_or("auth: no such user")?;
        let active: bool = first.get(0).unwrap_or(false);
        let version: i64 = first.get(1).unwrap_or(-1);
        if !active || version != ADMIN_TOKEN_VERSION {
            return Err("auth: token revoked".into());
        }
        let allowed = rows
            .iter()
            .any(|r| r.get::<Option<String>, _>(2).flatten().as_deref() == Some(permission));
        if !allowed {
            return Err(format!("auth: no {permission}"));
        }
        Ok(())
    }

    async fn user_by_id(&self, rng: &mut fastrand::Rng) -> Result<(), String> {
        let id = self.data.user_ids[rng.usize(..self.data.user_ids.len())];
        let mut c = self.replica.get().await?;
        let conn = c.conn();
        self.auth(conn, "user:read").await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?");
        let row = conn.exec_first(&sql, vec![Value::Int(id)]).await?;
        match row.and_then(|r| r.get::<i64, _>(0)) {
            Some(got) if got == id => Ok(()),
            _ => Err(format!("user {id} not found")),
        }
    }

    async fn user_list(&self, rng: &mut fastrand::Rng) -> Result<(), String> {
        let pages = (self.data.total_users as usize / self.per_page).clamp(1, PAGES);
        let offset = (rng.usize(..pages) * self.per_page) as i64;
        let limit = self.per_page as i64;
        let mut c = self.replica.get().await?;
        let conn = c.conn();
        self.auth(conn, "user:read").await?;
        let list = async {
            let users = conn
                .exec(
                    &page_sql(),
                    vec![Value::from(""), Value::Int(limit), Value::Int(offset)],
                )
                .await?;
            if users.len() != self.per_page {
                return Err(format!("{} users on the page", users.len()));
            }
            let ids: Vec<Value> = users
                .iter()
                .map(|u: &Row| Value::Int(u.get::<i64, _>(0).unwrap_or_default()))
                .collect();
            let roles = conn.exec(&roles_sql(ids.len()), ids.clone()).await?;
            // Every seeded user has 1-3 roles: each on the page must have one.
            let with_roles: std::collections::HashSet<i64> =
                roles.iter().filter_map(|r| r.get::<i64, _>(0)).collect();
            if with_roles.len() != ids.len() {
                return Err(format!(
                    "{} of {} users with roles",
                    with_roles.len(),
                    ids.len()
                ));
            }
            Ok(())
        };
        // The total, when the cached one is older than the TTL, on a second connection in
        // parallel with the page (adminql resolves the two root fields concurrently too).
        let count = async {
            if self.count_cache.fresh() {
                return Ok(());
            }
            let mut c = self.replica.get().await?;
            let n = c.conn().exec_first(COUNT_USERS, vec![]).await?;
            self.count_cache.store();
            match n.and_then(|r| r.get::<i64, _>(0)) {
                Some(n) if n == self.data.total_users => Ok(()),
                other => Err(format!("count {other:?}")),
            }
        };
        let (list, count) = tokio::join!(list, count);
        list.and(count)
    }

    async fn update_user(&self, rng: &mut fastrand::Rng) -> Result<(), String> {
        let id = self.data.user_ids[rng.usize(..self.data.user_ids.len())];
        let name = format!("Bench User {}", rng.u32(..1_000_000));
        let mut c = self.primary.get().await?;
        let conn = c.conn();
        self.auth(conn, "user:write").await?;
        conn.query("BEGIN").await?;
        let result = async {
            let before = conn
                .exec_first(&user_for_update(), vec![Value::Int(id)])
                .await?
                .ok_or_else(|| format!("user {id} not found"))?;
            let old_name: String = before.get(2).unwrap_or_default();
            let at = now();
            let changed = conn
                .exec_drop(
                    UPDATE_NAME,
                    vec![Value::from(name.as_str()), at.clone(), Value::Int(id)],
                )
                .await?;
            if changed != 1 {
                return Err(format!("{changed} rows updated"));
            }
            let changes = serde_json::json!({
                "before": { "name": old_name },
                "after": { "name": name },
            })
            .to_string();
            conn.exec_drop(
                INSERT_AUDIT,
                vec![
                    at,
                    Value::Int(self.admin_id),
                    Value::from("user.update"),
                    Value::from("user"),
                    Value::Int(id),
                    Value::from(changes),
                    Value::from(format!("{:032x}", rng.u128(..))),
                    Value::from("127.0.0.1"),
                ],
            )
            .await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                conn.query("COMMIT").await?;
                self.count_cache.drop_all();
                // The consistency token: the commit's GTID, read on the same connection.
                let gtid = conn.exec_first(LAST_GTID, vec![]).await?;
                match gtid.and_then(|r| r.get::<Option<String>, _>(0)).flatten() {
                    Some(g) if !g.is_empty() => Ok(()),
                    _ => Err("no @@last_gtid".to_owned()),
                }
            }
            Err(e) => {
                conn.query("ROLLBACK").await?;
                Err(e)
            }
        }
    }

    /// One operation, answered with the fewest statements.
    pub async fn run(&self, op: Op, rng: &mut fastrand::Rng) -> Result<(), String> {
        match op {
            Op::UserById => self.user_by_id(rng).await,
            Op::UserList => self.user_list(rng).await,
            Op::UpdateUser => self.update_user(rng).await,
            Op::Login => Err("the baseline has no login (argon2 is not SQL)".into()),
        }
    }
}

impl Client for Direct {
    type Session = ();

    async fn open(&self) -> anyhow::Result<()> {
        Ok(())
    }

    async fn call(&self, _: &mut (), rng: &mut fastrand::Rng) -> Result<(), String> {
        let op = self.scenario.pick(rng);
        self.run(op, rng).await
    }
}
