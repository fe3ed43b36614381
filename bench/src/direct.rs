//! The baseline: the database's own speed for each operation. A minimal mysql_async client
//! sends exactly the statements adminql sends for it (as the general log shows them; the
//! benchmark checks that at run time), the same way adminql's diesel-async does:
//!
//! - from a pool of `DB_POOL_SIZE` connections per server, reads on the replica and writes on
//!   the primary, with the pool's liveness ping (`SELECT ?`) on every checkout;
//! - one checkout for the auth check (the caller's user row and permission codes), then one
//!   per GraphQL root field, the list and its count concurrently;
//! - prepared statements kept per connection, `IN` lists among them (adminql pads a list to
//!   the next power of two with its last id, so a page of 20 always binds 32), except the one
//!   diesel does not cache, an `UPDATE ... SET` from a changeset, which is prepared, executed
//!   and closed each time;
//! - `updateUser` in a transaction (`BEGIN` ... `COMMIT` as text) with its audit row, then
//!   `SELECT @@last_gtid` for the consistency token adminql hands to the client. A change of
//!   name alone cannot take the admin role from anyone, so adminql counts no admins for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Params, Row, Statement, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::cluster::{Cluster, DIRECT_USER};
use crate::load::Client;
use crate::scenario::{Op, PAGES, Scenario};
use crate::seed::Dataset;

/// Connections to one server, at most `size` of them.
struct Pool {
    opts: Opts,
    idle: Mutex<Vec<Cached>>,
    permits: Arc<Semaphore>,
}

/// A connection and its prepared statements, as diesel-async keeps them.
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
        // diesel-async's connection options: no mysql_async statement cache (diesel keeps
        // its own), found rows, and the same session set-up; then adminql's own (src/db/pool.rs):
        // its default DB_STATEMENT_TIMEOUT, which makes MariaDB arm a timer for every
        // statement, and read-only sessions on the replica.
        let mut init = vec![
            "SET time_zone = '+00:00';",
            "SET character_set_client = 'utf8mb4'",
            "SET character_set_connection = 'utf8mb4'",
            "SET character_set_results = 'utf8mb4'",
            "SET SESSION max_statement_time = 5",
        ];
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

    async fn get(&self) -> Result<Checkout<'_>, String> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let idle = self.idle.lock().expect("pool lock").pop();
        let mut cached = match idle {
            Some(c) => c,
            None => Cached {
                conn: Conn::new(self.opts.clone())
                    .await
                    .map_err(|e| format!("connect: {e}"))?,
                statements: HashMap::new(),
            },
        };
        // deadpool's "verified" recycling: diesel's `SELECT 1` with the 1 bound.
        cached.exec_first(PING, vec![Value::Int(1)]).await?;
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

    /// A statement diesel does not cache (an `UPDATE` from a changeset, whose columns
    /// depend on which `Option`s are set): prepared, run and closed each time.
    async fn exec_uncached(&mut self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, String> {
        let stmt = self
            .conn
            .prep(sql)
            .await
            .map_err(|e| format!("prepare: {e}"))?;
        let rows = self
            .conn
            .exec(&stmt, Params::Positional(params))
            .await
            .map_err(|e| format!("{sql}: {e}"))?;
        self.conn
            .close(stmt)
            .await
            .map_err(|e| format!("close: {e}"))?;
        Ok(rows)
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
            primary: Arc::new(Pool::new(&cluster.primary.url(DIRECT_USER), size, false)?),
            replica: Arc::new(Pool::new(&cluster.replica.url(DIRECT_USER), size, true)?),
        })
    }

    pub async fn close(&self) {
        self.primary.close().await;
        self.replica.close().await;
    }
}

const PING: &str = "SELECT ?";
pub const FIND_USER: &str = "SELECT `users`.`id`, `users`.`email`, `users`.`name`, `users`.`active`, `users`.`token_version`, `users`.`created_at`, `users`.`updated_at`, `users`.`last_login_at` FROM `users` WHERE (`users`.`id` = ?) LIMIT ?";
pub const CODES_OF_USER: &str = "SELECT DISTINCT `permissions`.`code` FROM ((`user_roles` INNER JOIN `role_permissions` ON (`role_permissions`.`role_id` = `user_roles`.`role_id`)) INNER JOIN `permissions` ON (`permissions`.`id` = `role_permissions`.`permission_id`)) WHERE (`user_roles`.`user_id` = ?) ORDER BY `permissions`.`code`";
/// The page as ids only (an index-only range read of `users_email`; `email >= ''` holds for
/// every row and keeps MariaDB from a full scan and filesort at deep pages) ...
pub const LIST_USER_IDS: &str = "SELECT `users`.`id` FROM `users` WHERE (`users`.`email` >= ?) ORDER BY `users`.`email` ASC LIMIT ? OFFSET ?";
/// ... then its rows by key; followed by `(?, ?, ...))`.
pub const USERS_BY_IDS: &str = "SELECT `users`.`id`, `users`.`email`, `users`.`name`, `users`.`active`, `users`.`token_version`, `users`.`created_at`, `users`.`updated_at`, `users`.`last_login_at` FROM `users` WHERE (`users`.`id` IN ";
pub const COUNT_USERS: &str = "SELECT COUNT(*) FROM `users`";
/// Followed by `(?, ?, ...)` and [`ROLES_OF_USERS_END`].
pub const ROLES_OF_USERS: &str = "SELECT `user_roles`.`user_id`, `roles`.`id`, `roles`.`name`, `roles`.`description`, `roles`.`created_at`, `roles`.`updated_at` FROM (`user_roles` INNER JOIN `roles` ON (`user_roles`.`role_id` = `roles`.`id`)) WHERE (`user_roles`.`user_id` IN ";
pub const ROLES_OF_USERS_END: &str = ") ORDER BY `user_roles`.`user_id`, `roles`.`name`";
const UPDATE_NAME: &str =
    "UPDATE `users` SET `name` = ?, `updated_at` = ? WHERE (`users`.`id` = ?)";
const INSERT_AUDIT: &str = "INSERT INTO `audit_log` (`at`, `actor_user_id`, `action`, `target_type`, `target_id`, `changes`, `request_id`, `client_ip`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

const LAST_GTID: &str = "SELECT @@last_gtid";

/// `ids` padded as adminql's `in_ids` pads a list of up to 1,024 (all the benchmark sends):
/// to the next power of two, repeating the last id.
pub fn padded<T: Clone>(ids: &[T]) -> Vec<T> {
    let mut padded = ids.to_vec();
    if let Some(last) = ids.last() {
        padded.resize(ids.len().next_power_of_two(), last.clone());
    }
    padded
}

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

/// When the baseline last counted the users: adminql's `_allUsersMeta` cache, reduced to the
/// one filter the scenario uses.
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

    /// adminql's auth check: the caller's row (active, token version) and permission codes.
    async fn auth(&self, pool: &Pool) -> Result<(), String> {
        let mut c = pool.get().await?;
        let conn = c.conn();
        let user = conn
            .exec_first(FIND_USER, vec![Value::Int(self.admin_id), Value::Int(1)])
            .await?;
        if user.is_none() {
            return Err("auth: no such user".into());
        }
        let codes = conn
            .exec(CODES_OF_USER, vec![Value::Int(self.admin_id)])
            .await?;
        if codes.is_empty() {
            return Err("auth: no permissions".into());
        }
        Ok(())
    }

    async fn user_by_id(&self, rng: &mut fastrand::Rng) -> Result<(), String> {
        self.auth(&self.replica).await?;
        let id = self.data.user_ids[rng.usize(..self.data.user_ids.len())];
        let mut c = self.replica.get().await?;
        let row = c
            .conn()
            .exec_first(FIND_USER, vec![Value::Int(id), Value::Int(1)])
            .await?;
        row.map(|_| ())
            .ok_or_else(|| format!("user {id} not found"))
    }

    async fn user_list(&self, rng: &mut fastrand::Rng) -> Result<(), String> {
        self.auth(&self.replica).await?;
        let pages = (self.data.total_users as usize / self.per_page).clamp(1, PAGES);
        let offset = (rng.usize(..pages) * self.per_page) as i64;
        let limit = self.per_page as i64;
        // `allUsers` and `_allUsersMeta` are sibling root fields, resolved concurrently.
        let list = async {
            let mut c = self.replica.get().await?;
            let conn = c.conn();
            let ids: Vec<Value> = conn
                .exec(
                    LIST_USER_IDS,
                    vec![Value::from(""), Value::Int(limit), Value::Int(offset)],
                )
                .await?
                .iter()
                .map(|u: &Row| Value::Int(u.get::<i64, _>(0).unwrap_or_default()))
                .collect();
            if ids.len() != self.per_page {
                return Err(format!("{} users on the page", ids.len()));
            }
            let padded = padded(&ids);
            let marks = vec!["?"; padded.len()].join(", ");
            let users = conn
                .exec(&format!("{USERS_BY_IDS}({marks}))"), padded.clone())
                .await?;
            if users.len() != ids.len() {
                return Err(format!("{} of {} users found", users.len(), ids.len()));
            }
            let sql = format!("{ROLES_OF_USERS}({marks}){ROLES_OF_USERS_END}");
            let roles = conn.exec(&sql, padded).await?;
            if roles.is_empty() {
                return Err("no roles".into());
            }
            Ok(())
        };
        // adminql keeps the total for GRAPHQL_COUNT_CACHE_TTL (1 s by default) and then
        // answers without a connection; so does the baseline, shared by its clients.
        let count = async {
            if self.count_cache.fresh() {
                return Ok(());
            }
            let mut c = self.replica.get().await?;
            let n = c.conn().exec_first(COUNT_USERS, vec![]).await?;
            self.count_cache.store();
            n.map(|_| ()).ok_or_else(|| "no count".to_owned())
        };
        let (list, count) = tokio::join!(list, count);
        list.and(count)
    }

    async fn update_user(&self, rng: &mut fastrand::Rng) -> Result<(), String> {
        self.auth(&self.primary).await?;
        let id = self.data.user_ids[rng.usize(..self.data.user_ids.len())];
        let name = format!("Bench User {}", rng.u32(..1_000_000));
        let mut c = self.primary.get().await?;
        let conn = c.conn();
        conn.query("BEGIN").await?;
        let result = async {
            let before = conn
                .exec_first(FIND_USER, vec![Value::Int(id), Value::Int(1)])
                .await?
                .ok_or_else(|| format!("user {id} not found"))?;
            let old_name: String = before.get(2).unwrap_or_default();
            conn.exec_uncached(
                UPDATE_NAME,
                vec![Value::from(name.as_str()), now(), Value::Int(id)],
            )
            .await?;
            let changes = serde_json::json!({
                "before": { "name": old_name },
                "after": { "name": name },
            })
            .to_string();
            conn.exec(
                INSERT_AUDIT,
                vec![
                    now(),
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
            conn.exec_first(FIND_USER, vec![Value::Int(id), Value::Int(1)])
                .await?
                .ok_or_else(|| format!("user {id} vanished"))
        }
        .await;
        match result {
            Ok(_) => {
                conn.query("COMMIT").await?;
                // adminql's consistency token: the commit's GTID, read on the same connection.
                let gtid = conn.exec(LAST_GTID, vec![]).await?;
                gtid.first()
                    .map(|_| ())
                    .ok_or_else(|| "no @@last_gtid".to_owned())
            }
            Err(e) => {
                conn.query("ROLLBACK").await?;
                Err(e)
            }
        }
    }

    /// One operation, as adminql would run it for the same request.
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
