//! What the database servers say about a run: statements per account (MariaDB `userstat`),
//! prepared-statement counters, and the general log of single requests.

use crate::cluster::{Cluster, Server, replica};

/// Counters of one account, summed over the primary and the replica.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Counters {
    /// `SELECT_COMMANDS + UPDATE_COMMANDS + OTHER_COMMANDS` of `USER_STATISTICS`: every
    /// statement the account ran (a prepared statement counts when it is executed).
    pub statements: u64,
    /// `Com_stmt_prepare` (server-wide).
    pub prepares: u64,
    /// `Com_stmt_close` (server-wide).
    pub closes: u64,
    /// Statements on the primary / on the replica (userstat).
    pub primary_statements: u64,
    pub replica_statements: u64,
}

impl Counters {
    pub fn plus(&self, other: &Counters) -> Counters {
        Counters {
            statements: self.statements + other.statements,
            prepares: self.prepares + other.prepares,
            closes: self.closes + other.closes,
            primary_statements: self.primary_statements + other.primary_statements,
            replica_statements: self.replica_statements + other.replica_statements,
        }
    }

    pub fn delta(&self, before: &Counters) -> Counters {
        Counters {
            statements: self.statements.saturating_sub(before.statements),
            prepares: self.prepares.saturating_sub(before.prepares),
            closes: self.closes.saturating_sub(before.closes),
            primary_statements: self
                .primary_statements
                .saturating_sub(before.primary_statements),
            replica_statements: self
                .replica_statements
                .saturating_sub(before.replica_statements),
        }
    }
}

fn user_statements(server: &Server, user: &str) -> anyhow::Result<u64> {
    Ok(server.user_stats(user)?.statements())
}

fn global_status(server: &Server, name: &str) -> anyhow::Result<u64> {
    Ok(server.number(&format!(
        "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = '{name}'"
    ))?)
}

/// Statement counters of `user` on both servers.
pub fn counters(cluster: &Cluster, user: &str) -> anyhow::Result<Counters> {
    let primary_statements = user_statements(&cluster.primary, user)?;
    let replica_statements = user_statements(replica(cluster), user)?;
    let mut out = Counters {
        statements: primary_statements + replica_statements,
        primary_statements,
        replica_statements,
        ..Counters::default()
    };
    for server in cluster.servers() {
        out.prepares += global_status(server, "COM_STMT_PREPARE")?;
        out.closes += global_status(server, "COM_STMT_CLOSE")?;
    }
    Ok(out)
}

/// `Prepared_stmt_count` (statements currently prepared, server-wide) per server.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct PreparedCount {
    pub primary: u64,
    pub replica: u64,
}

pub fn prepared_count(cluster: &Cluster) -> anyhow::Result<PreparedCount> {
    Ok(PreparedCount {
        primary: global_status(&cluster.primary, "PREPARED_STMT_COUNT")?,
        replica: global_status(replica(cluster), "PREPARED_STMT_COUNT")?,
    })
}

/// One command a client sent, as the general log recorded it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Logged {
    pub server: &'static str,
    /// `Query`, `Prepare`, `Execute`, `Close stmt`, ...
    pub command: String,
    /// The SQL with literals replaced by `?` and whitespace collapsed.
    pub sql: String,
}

/// Turns the general log on (to a table) on both servers, after emptying it.
pub fn general_log_on(cluster: &Cluster) -> anyhow::Result<()> {
    for server in cluster.servers() {
        // sql_log_bin = 0: the TRUNCATE must not replicate (the replica's SQL thread would
        // stop on it while its own general log is on).
        server.sql(
            "SET SESSION sql_log_bin = 0; SET GLOBAL general_log = OFF;
             SET GLOBAL log_output = 'TABLE'; TRUNCATE mysql.general_log;
             SET GLOBAL general_log = ON;",
        )?;
    }
    Ok(())
}

/// Turns the general log off and returns what `user` sent while it was on, in order, per
/// server. Commands whose SQL is in `ignore` (normalized) are left out.
pub fn general_log_off(cluster: &Cluster, user: &str) -> anyhow::Result<Vec<Logged>> {
    let mut out = Vec::new();
    for server in cluster.servers() {
        server.sql("SET GLOBAL general_log = OFF")?;
        let rows = server.sql(&format!(
            "SELECT command_type, REPLACE(REPLACE(CONVERT(argument USING utf8mb4), '\\n', ' '), '\\t', ' ')
             FROM mysql.general_log WHERE user_host LIKE '{user}[%' ORDER BY event_time"
        ))?;
        for line in rows.lines() {
            let (command, sql) = line.split_once('\t').unwrap_or((line, ""));
            if command == "Connect" || command == "Quit" {
                continue;
            }
            out.push(Logged {
                server: server.name,
                command: command.to_owned(),
                sql: normalize(sql),
            });
        }
        server.sql("SET SESSION sql_log_bin = 0; TRUNCATE mysql.general_log")?;
    }
    Ok(out)
}

/// Replaces string and number literals with `?` and collapses whitespace, so the same
/// statement with other values compares equal.
pub fn normalize(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut prev_word = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                while let Some(n) = chars.next() {
                    if n == '\\' {
                        chars.next();
                    } else if n == c {
                        break;
                    }
                }
                out.push('?');
                prev_word = false;
            }
            c if c.is_ascii_digit() && !prev_word => {
                while chars
                    .peek()
                    .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '.')
                {
                    chars.next();
                }
                out.push('?');
            }
            c if c.is_whitespace() => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
                prev_word = false;
            }
            c => {
                out.push(c);
                prev_word = c.is_ascii_alphanumeric() || c == '_' || c == '`';
            }
        }
    }
    out.trim().to_owned()
}

/// The query plan of a statement on the replica, as `EXPLAIN` prints it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Plan {
    pub label: String,
    pub sql: String,
    pub plan: String,
}

/// `sql` with each `?` replaced by the next of `values`.
pub fn bind(sql: &str, values: &[&str]) -> String {
    let mut values = values.iter();
    sql.chars()
        .map(|c| match c {
            '?' => values.next().map_or("?".to_owned(), |v| v.to_string()),
            c => c.to_string(),
        })
        .collect()
}

/// `EXPLAIN`s each `(label, sql)` on the replica, in adminql's database.
pub fn explain(cluster: &Cluster, statements: &[(String, String)]) -> anyhow::Result<Vec<Plan>> {
    statements
        .iter()
        .map(|(label, sql)| {
            let plan = replica(cluster)
                .sql(&format!("USE {}; EXPLAIN {sql}", crate::cluster::DATABASE))?;
            // Keep the columns that tell the story (id, select_type, table, type, key, rows, Extra).
            let plan = plan
                .lines()
                .map(|l| {
                    let f: Vec<&str> = l.split('\t').collect();
                    if f.len() >= 10 {
                        [f[0], f[1], f[2], f[3], f[5], f[8], f[9]].join(" | ")
                    } else {
                        f.join(" | ")
                    }
                })
                .collect::<Vec<_>>();
            let plan = format!(
                "id | select_type | table | type | key | rows | Extra\n{}",
                plan.join("\n")
            );
            Ok(Plan {
                label: label.clone(),
                sql: sql.clone(),
                plan,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_literals() {
        assert_eq!(
            normalize("SELECT `users`.`id` FROM `users` WHERE `users`.`id` = 42  LIMIT 1"),
            "SELECT `users`.`id` FROM `users` WHERE `users`.`id` = ? LIMIT ?"
        );
        assert_eq!(
            normalize("UPDATE t SET name = 'it''s \\' x', at = '2026-01-01 10:00:00.5'"),
            "UPDATE t SET name = ??, at = ?"
        );
        assert_eq!(
            normalize("SELECT user_id2 FROM t2"),
            "SELECT user_id2 FROM t2"
        );
    }
}
