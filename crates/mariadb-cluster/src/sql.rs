//! SQL on a server as root, with the `mariadb` client over its socket, and what both users
//! of this crate do that way: adminql's accounts and their statement counts.

use std::process::Command;

use crate::server::Server;
use crate::setup::{find_binary, run};
use crate::{Error, Result};

/// An account's counters in `information_schema.USER_STATISTICS` (`--userstat`), summed
/// over its hosts; zero for an account that has not connected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserStats {
    /// `SELECT_COMMANDS`.
    pub selects: u64,
    /// `UPDATE_COMMANDS`: statements that change data.
    pub updates: u64,
    /// `OTHER_COMMANDS`: the rest (`SET`, `BEGIN`, `COMMIT`, ...).
    pub others: u64,
}

impl UserStats {
    /// Every statement the account ran (a prepared statement counts when it is executed).
    pub fn statements(&self) -> u64 {
        self.selects + self.updates + self.others
    }
}

impl Server {
    /// Runs SQL; returns the rows, tab-separated, one a line, values as they are
    /// (`--raw`: a value with a tab or a newline in it would split its row).
    pub fn sql(&self, sql: &str) -> Result<String> {
        self.client(&["-e", sql], None)
    }

    /// Runs a (possibly large) SQL script, fed to the client's stdin.
    pub fn script(&self, sql: &str) -> Result<String> {
        self.client(&[], Some(sql))
    }

    /// The one number `sql` returns.
    pub fn number(&self, sql: &str) -> Result<u64> {
        let out = self.sql(sql)?;
        out.trim().parse().map_err(|e| {
            Error::new(format!(
                "{}: '{sql}' returned '{}', not a number: {e}",
                self.name,
                out.trim()
            ))
        })
    }

    /// Whether the server answers SQL.
    pub fn ping(&self) -> Result<()> {
        self.sql("SELECT 1").map(|_| ())
    }

    fn client(&self, args: &[&str], input: Option<&str>) -> Result<String> {
        run(
            Command::new(find_binary("mariadb")?)
                .arg("--no-defaults")
                .arg(format!("--socket={}", self.socket().display()))
                .arg("-uroot")
                .arg("--batch")
                .arg("--skip-column-names")
                .arg("--raw")
                .arg("--default-character-set=utf8mb4")
                .args(args),
            input,
        )
    }

    /// The `mysql://` URL of `user` (with the password of the accounts made here) and
    /// `database`.
    pub fn url(&self, user: &str, database: &str) -> String {
        format!(
            "mysql://{user}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// Creates a database and an account of the same name for it ([`Server::create_app_user`]),
    /// in one client run (every test makes one).
    pub fn create_app_database(&self, name: &str) -> Result<()> {
        let user = self.app_user_sql(name, name);
        self.sql(&format!("CREATE DATABASE {name}; {user}"))
            .map(|_| ())
    }

    /// Creates the account `user`, from 127.0.0.1 with the cluster's password, with the
    /// privileges docs/deploy.md gives adminql's account on `database`: none that bypass
    /// `read_only` (no `SUPER`, no `READ_ONLY ADMIN`), so a replica refuses its writes. Made
    /// on the primary, it replicates.
    pub fn create_app_user(&self, user: &str, database: &str) -> Result<()> {
        self.sql(&self.app_user_sql(user, database)).map(|_| ())
    }

    fn app_user_sql(&self, user: &str, database: &str) -> String {
        format!(
            "CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}';
             GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES,
                   CREATE TEMPORARY TABLES, LOCK TABLES ON {database}.* TO '{user}'@'127.0.0.1';
             GRANT SLAVE MONITOR, BINLOG MONITOR ON *.* TO '{user}'@'127.0.0.1';",
            password = self.password
        )
    }

    /// What the account `user` has run on this server.
    pub fn user_stats(&self, user: &str) -> Result<UserStats> {
        let row = self.sql(&format!(
            "SELECT COALESCE(SUM(SELECT_COMMANDS), 0), COALESCE(SUM(UPDATE_COMMANDS), 0),
                    COALESCE(SUM(OTHER_COMMANDS), 0)
             FROM information_schema.USER_STATISTICS WHERE USER = '{user}'"
        ))?;
        let numbers: Vec<u64> = row
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| Error::new(format!("{}: USER_STATISTICS of {user}: {e}", self.name)))?;
        match numbers[..] {
            [selects, updates, others] => Ok(UserStats {
                selects,
                updates,
                others,
            }),
            _ => Err(Error::new(format!(
                "{}: USER_STATISTICS of {user}: unexpected row '{}'",
                self.name,
                row.trim()
            ))),
        }
    }
}
