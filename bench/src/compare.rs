//! What adminql sends for one request next to what the baseline (the minimum) sends, from
//! the general log: informational, for the "statements adminql sends vs the minimum" table,
//! not a pass/fail check (the targets count statements under load instead).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::dbstats::Logged;
use crate::scenario::Op;

/// One request of an operation, as adminql and the baseline sent it.
#[derive(Clone, Debug, Serialize)]
pub struct Compared {
    pub op: Op,
    pub adminql: Vec<Logged>,
    pub direct: Vec<Logged>,
    /// Statements run (`Query` and `Execute` commands; prepares and closes are counted under
    /// load, since a cached statement is prepared once per pooled connection).
    pub adminql_statements: usize,
    pub direct_statements: usize,
    /// Statements (server and normalized SQL) one side sends and the other does not, with how
    /// many more times.
    pub only_adminql: Vec<(String, usize)>,
    pub only_direct: Vec<(String, usize)>,
}

fn is_statement(l: &Logged) -> bool {
    l.command == "Query" || l.command == "Execute"
}

/// Statements by server and SQL, backquotes dropped (diesel quotes every name; the
/// baseline quotes none).
fn statements(log: &[Logged]) -> BTreeMap<String, usize> {
    let mut map = BTreeMap::new();
    for l in log.iter().filter(|l| is_statement(l)) {
        let sql = l.sql.replace('`', "");
        *map.entry(format!("{}: {sql}", l.server)).or_default() += 1;
    }
    map
}

/// What `a` sends more often than `b`.
fn surplus(a: &BTreeMap<String, usize>, b: &BTreeMap<String, usize>) -> Vec<(String, usize)> {
    a.iter()
        .filter_map(|(sql, n)| {
            let extra = n.saturating_sub(b.get(sql).copied().unwrap_or(0));
            (extra > 0).then(|| (sql.clone(), extra))
        })
        .collect()
}

impl Compared {
    pub fn new(op: Op, adminql: Vec<Logged>, direct: Vec<Logged>) -> Compared {
        let (a, d) = (statements(&adminql), statements(&direct));
        Compared {
            op,
            adminql_statements: a.values().sum(),
            direct_statements: d.values().sum(),
            only_adminql: surplus(&a, &d),
            only_direct: surplus(&d, &a),
            adminql,
            direct,
        }
    }

    /// The differing statements of one side, for a table cell.
    pub fn cell(list: &[(String, usize)]) -> String {
        if list.is_empty() {
            return "none".into();
        }
        list.iter()
            .map(|(sql, n)| {
                let sql = sql.replace('|', "\\|");
                if *n > 1 {
                    format!("{n}× `{sql}`")
                } else {
                    format!("`{sql}`")
                }
            })
            .collect::<Vec<_>>()
            .join("<br>")
    }

    /// Both logs, readable.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{:?}: adminql {} statements, the minimum {}\n",
            self.op, self.adminql_statements, self.direct_statements
        );
        for (who, log) in [("adminql", &self.adminql), ("minimum", &self.direct)] {
            let _ = writeln!(out, "  {who}:");
            for l in log {
                let _ = writeln!(out, "    {:<8} {:<10} {}", l.server, l.command, l.sql);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(entries: &[(&'static str, &str, &str)]) -> Vec<Logged> {
        entries
            .iter()
            .map(|(server, command, sql)| Logged {
                server,
                command: (*command).into(),
                sql: (*sql).into(),
            })
            .collect()
    }

    #[test]
    fn counts_statements_and_names_the_difference() {
        let adminql = log(&[
            ("replica", "Execute", "SELECT ?"),
            ("replica", "Execute", "SELECT ?"),
            ("replica", "Prepare", "SELECT u FROM users"),
            ("replica", "Execute", "SELECT `u` FROM `users`"),
            ("replica", "Close stmt", ""),
        ]);
        let direct = log(&[
            ("replica", "Execute", "SELECT u FROM users"),
            ("replica", "Execute", "SELECT auth"),
        ]);
        let c = Compared::new(Op::UserById, adminql, direct);
        assert_eq!((c.adminql_statements, c.direct_statements), (3, 2));
        assert_eq!(c.only_adminql, vec![("replica: SELECT ?".to_owned(), 2)]);
        assert_eq!(c.only_direct, vec![("replica: SELECT auth".to_owned(), 1)]);
        assert_eq!(Compared::cell(&c.only_adminql), "2× `replica: SELECT ?`");
        assert_eq!(Compared::cell(&[]), "none");
    }
}
