//! The minimum: the fewest statements that give each operation's answer with adminql's
//! guarantees, written once from the schema (migrations/mysql), not copied from adminql's
//! general log. Both baselines run these operations: the direct-SQL client in the bench
//! process ([`crate::direct`]) and the hand-written HTTP service ([`crate::service`]).
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

mod pool;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::{Row, Value};

pub use pool::{Cached, Pool, Pools};

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
fn user_sql() -> String {
    format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?")
}
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

/// adminql's default `GRAPHQL_COUNT_CACHE_TTL`.
const COUNT_TTL: Duration = Duration::from_secs(1);

/// Who sends the request: the verified token's subject and token version.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub user_id: i64,
    pub token_version: i64,
}

/// Why an operation gave no answer.
#[derive(Debug)]
pub enum Error {
    /// Unknown or deactivated user, or a token of an older version.
    Unauthenticated,
    /// The caller lacks this permission.
    Forbidden(&'static str),
    NotFound(i64),
    /// The database failed, or answered something the schema rules out.
    Failed(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unauthenticated => f.write_str("auth: token revoked"),
            Error::Forbidden(permission) => write!(f, "auth: no {permission}"),
            Error::NotFound(id) => write!(f, "user {id} not found"),
            Error::Failed(e) => f.write_str(e),
        }
    }
}

impl From<String> for Error {
    fn from(e: String) -> Self {
        Error::Failed(e)
    }
}

/// A user row, as far as the scenarios select it.
#[derive(Debug)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub active: bool,
    /// `DATETIME(6)`, UTC.
    pub created_at: Value,
}

impl User {
    fn from_row(mut row: Row) -> Result<User, Error> {
        let bad = |column: &str| Error::Failed(format!("users.{column}: unexpected value"));
        Ok(User {
            id: row
                .take_opt(0)
                .and_then(Result::ok)
                .ok_or_else(|| bad("id"))?,
            email: row
                .take_opt(1)
                .and_then(Result::ok)
                .ok_or_else(|| bad("email"))?,
            name: row
                .take_opt(2)
                .and_then(Result::ok)
                .ok_or_else(|| bad("name"))?,
            active: row
                .take_opt(3)
                .and_then(Result::ok)
                .ok_or_else(|| bad("active"))?,
            created_at: row.take(5).ok_or_else(|| bad("created_at"))?,
        })
    }
}

/// A page of `allUsers` with each user's role names, and `_allUsersMeta.count`.
#[derive(Debug)]
pub struct Page {
    pub users: Vec<(User, Vec<String>)>,
    pub total: i64,
}

/// What `updateUser(id, name)` answers, and the consistency token (the commit's GTID).
#[derive(Debug)]
pub struct Updated {
    pub id: i64,
    pub name: String,
    pub gtid: String,
}

/// The users' total as adminql's `_allUsersMeta` cache keeps it, reduced to the one filter
/// the scenario uses: per process, for the TTL, dropped by the process's own writes.
#[derive(Default)]
struct CountCache(std::sync::Mutex<Option<(Instant, i64)>>);

impl CountCache {
    fn fresh(&self) -> Option<i64> {
        let cached = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        cached.and_then(|(at, n)| (at.elapsed() < COUNT_TTL).then_some(n))
    }

    fn store(&self, n: i64) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), n));
    }

    fn drop_all(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
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

/// A `DATETIME` value as RFC 3339 in UTC, the way async-graphql writes a `DateTime<Utc>`
/// (chrono's `to_rfc3339`: fractions of a second only when there are any, in 3 or 6 digits).
pub fn rfc3339(value: &Value) -> String {
    match *value {
        Value::Date(y, mo, d, h, mi, s, us) => {
            let fraction = match us {
                0 => String::new(),
                us if us % 1000 == 0 => format!(".{:03}", us / 1000),
                us => format!(".{us:06}"),
            };
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{fraction}+00:00")
        }
        _ => String::new(),
    }
}

/// The three operations, each with the fewest statements, on one pair of pools.
pub struct Minimal {
    primary: Arc<Pool>,
    replica: Arc<Pool>,
    counts: CountCache,
}

impl Minimal {
    pub fn new(pools: &Pools) -> Minimal {
        Minimal {
            primary: pools.primary.clone(),
            replica: pools.replica.clone(),
            counts: CountCache::default(),
        }
    }

    /// The auth check on the request's connection: refused unless the caller exists, is
    /// active, holds a token of their current version and has `permission`.
    async fn auth(
        conn: &mut Cached,
        caller: Caller,
        permission: &'static str,
    ) -> Result<(), Error> {
        let rows = conn.exec(AUTH, vec![Value::Int(caller.user_id)]).await?;
        let Some(first) = rows.first() else {
            return Err(Error::Unauthenticated);
        };
        let active: bool = first.get(0).unwrap_or(false);
        let version: i64 = first.get(1).unwrap_or(-1);
        if !active || version != caller.token_version {
            return Err(Error::Unauthenticated);
        }
        let allowed = rows
            .iter()
            .any(|r| r.get::<Option<String>, _>(2).flatten().as_deref() == Some(permission));
        if !allowed {
            return Err(Error::Forbidden(permission));
        }
        Ok(())
    }

    /// `User(id)`.
    pub async fn user_by_id(&self, caller: Caller, id: i64) -> Result<User, Error> {
        let mut c = self.replica.get().await?;
        let conn = c.conn();
        Self::auth(conn, caller, "user:read").await?;
        let row = conn.exec_first(&user_sql(), vec![Value::Int(id)]).await?;
        User::from_row(row.ok_or(Error::NotFound(id))?)
    }

    /// `allUsers(page, perPage, sortField: "email") { ... roles { name } }` and
    /// `_allUsersMeta { count }`.
    pub async fn user_list(&self, caller: Caller, page: i64, per_page: i64) -> Result<Page, Error> {
        let mut c = self.replica.get().await?;
        let conn = c.conn();
        Self::auth(conn, caller, "user:read").await?;
        let list = async {
            let rows = conn
                .exec(
                    &page_sql(),
                    vec![
                        Value::from(""),
                        Value::Int(per_page),
                        Value::Int(page * per_page),
                    ],
                )
                .await?;
            let users = rows
                .into_iter()
                .map(User::from_row)
                .collect::<Result<Vec<User>, Error>>()?;
            if users.is_empty() {
                return Ok::<_, Error>(Vec::new());
            }
            let ids: Vec<Value> = users.iter().map(|u| Value::Int(u.id)).collect();
            let mut roles: HashMap<i64, Vec<String>> = HashMap::with_capacity(users.len());
            for mut row in conn.exec(&roles_sql(ids.len()), ids).await? {
                let (Some(user), Some(name)) = (row.take::<i64, _>(0), row.take::<String, _>(1))
                else {
                    return Err(Error::Failed("roles: unexpected row".into()));
                };
                roles.entry(user).or_default().push(name);
            }
            Ok(users
                .into_iter()
                .map(|u| {
                    let names = roles.remove(&u.id).unwrap_or_default();
                    (u, names)
                })
                .collect())
        };
        let users = list.await?;
        // The total, when the cached one is older than the TTL, on the same connection after
        // the page: a second checkout while this one is held could wait on the pool forever
        // once every request in flight holds one (adminql's held lease avoids the same).
        let total = match self.counts.fresh() {
            Some(n) => n,
            None => {
                let row = conn.exec_first(COUNT_USERS, vec![]).await?;
                let n = row
                    .and_then(|r| r.get::<i64, _>(0))
                    .ok_or_else(|| Error::Failed("no count".into()))?;
                self.counts.store(n);
                n
            }
        };
        Ok(Page { users, total })
    }

    /// `updateUser(id, name) { id name }`, audited, with its consistency token.
    pub async fn update_user(
        &self,
        caller: Caller,
        id: i64,
        name: &str,
        request_id: &str,
        client_ip: &str,
    ) -> Result<Updated, Error> {
        let mut c = self.primary.get().await?;
        let conn = c.conn();
        Self::auth(conn, caller, "user:write").await?;
        conn.query("BEGIN").await?;
        let result = async {
            let before = conn
                .exec_first(&user_for_update(), vec![Value::Int(id)])
                .await?
                .ok_or(Error::NotFound(id))?;
            let old_name: String = before.get(2).unwrap_or_default();
            let at = now();
            let changed = conn
                .exec_drop(
                    UPDATE_NAME,
                    vec![Value::from(name), at.clone(), Value::Int(id)],
                )
                .await?;
            if changed != 1 {
                return Err(Error::Failed(format!("{changed} rows updated")));
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
                    Value::Int(caller.user_id),
                    Value::from("user.update"),
                    Value::from("user"),
                    Value::Int(id),
                    Value::from(changes),
                    Value::from(request_id),
                    Value::from(client_ip),
                ],
            )
            .await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            conn.query("ROLLBACK").await?;
            return Err(e);
        }
        conn.query("COMMIT").await?;
        self.counts.drop_all();
        // The consistency token: the commit's GTID, read on the same connection.
        let gtid = conn.exec_first(LAST_GTID, vec![]).await?;
        match gtid.and_then(|r| r.get::<Option<String>, _>(0)).flatten() {
            Some(gtid) if !gtid.is_empty() => Ok(Updated {
                id,
                name: name.to_owned(),
                gtid,
            }),
            _ => Err(Error::Failed("no @@last_gtid".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_like_chrono() {
        assert_eq!(
            rfc3339(&Value::Date(2026, 12, 1, 9, 5, 7, 0)),
            "2026-12-01T09:05:07+00:00"
        );
        assert_eq!(
            rfc3339(&Value::Date(2026, 12, 1, 9, 5, 7, 120_000)),
            "2026-12-01T09:05:07.120+00:00"
        );
        assert_eq!(
            rfc3339(&Value::Date(2026, 12, 1, 9, 5, 7, 123_456)),
            "2026-12-01T09:05:07.123456+00:00"
        );
    }
}
