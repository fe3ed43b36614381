//! Read-your-writes across pods with consistency tokens.
//!
//! After a mutation commits, the GTID of its last commit (MariaDB `@@last_gtid`; MySQL 8
//! `@@global.gtid_executed`, a superset) is captured on the same connection and handed to the
//! client as a token. A later read carrying the token goes to a replica that has applied it
//! (`MASTER_GTID_WAIT` / `WAIT_FOR_EXECUTED_GTID_SET`, bounded by `REPLICA_GTID_WAIT`), or
//! else to the primary. Tokens are validated before use and only ever bound as parameters.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use diesel::sql_types::{Double, Nullable, Text};
use diesel_async::{AsyncMysqlConnection, RunQueryDsl};

use super::DbConn;
use super::sql::fixed;

/// Which MySQL-protocol server we talk to; GTIDs and their functions differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    MariaDb,
    Mysql,
}

impl Flavor {
    /// The flavor a `SELECT VERSION()` answer names.
    pub fn of_version(version: &str) -> Flavor {
        if version.contains("MariaDB") {
            Flavor::MariaDb
        } else {
            Flavor::Mysql
        }
    }
}

/// The flavor of a [`super::Database`]'s servers, learnt from its first connection (each
/// `Database` holds its own: one process may talk to several installations, as tests do).
#[derive(Clone, Debug, Default)]
pub struct FlavorCell(Arc<OnceLock<Flavor>>);

impl FlavorCell {
    /// Records the flavor `version` names, unless one is known already; returns the latter.
    pub fn learn(&self, version: &str) -> Flavor {
        *self.0.get_or_init(|| Flavor::of_version(version))
    }

    /// The known flavor; MariaDB until a connection told otherwise.
    pub fn get(&self) -> Flavor {
        self.0.get().copied().unwrap_or(Flavor::MariaDb)
    }
}

tokio::task_local! {
    static LAST_COMMIT: (FlavorCell, RefCell<Option<String>>);
}

/// Runs `work` while recording the GTID of every commit it makes on servers of `flavor`;
/// returns the last one.
pub async fn track_commits<F: Future>(flavor: FlavorCell, work: F) -> (F::Output, Option<String>) {
    LAST_COMMIT
        .scope((flavor, RefCell::new(None)), async move {
            let output = work.await;
            let gtid = LAST_COMMIT.with(|(_, c)| c.borrow().clone());
            (output, gtid)
        })
        .await
}

/// Called after a successful commit: captures its GTID when a request is tracking commits.
pub(super) async fn record_commit(conn: &mut DbConn) {
    let Ok(flavor) = LAST_COMMIT.try_with(|(flavor, _)| flavor.get()) else {
        return;
    };
    let DbConn::Mysql(c) = conn else {
        return;
    };
    let result: diesel::QueryResult<Option<String>> =
        diesel::select(fixed::<Nullable<Text>>(commit_gtid_sql(flavor)))
            .get_result(&mut **c)
            .await;
    match result {
        Ok(Some(gtid)) if !gtid.is_empty() => {
            LAST_COMMIT.with(|(_, slot)| *slot.borrow_mut() = Some(gtid));
        }
        // Nothing was binlogged (binary log off): there is nothing to wait for.
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not read the commit's GTID"),
    }
}

/// The server variable that names the last commit: MariaDB's own (`@@last_gtid`, this
/// session's), MySQL 8's whole executed set (a superset, which waits no shorter).
fn commit_gtid_sql(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::MariaDb => "@@last_gtid",
        Flavor::Mysql => "@@global.gtid_executed",
    }
}

/// A validated consistency token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token(String);

/// Longest token accepted (a GTID set per replication domain / server UUID).
const MAX_LEN: usize = 4096;

impl Token {
    /// Accepts a MariaDB GTID list (`0-1-123,1-2-7`) or a MySQL GTID set
    /// (`3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7`), comma-separated.
    pub fn parse(raw: &str) -> Result<Token, String> {
        let raw = raw.trim();
        let valid = !raw.is_empty()
            && raw.len() <= MAX_LEN
            && raw
                .split(',')
                .all(|part| mariadb_gtid(part.trim()) || mysql_gtid(part.trim()));
        if valid {
            Ok(Token(raw.replace(' ', "")))
        } else {
            Err("X-Consistency-Token is not a GTID position (e.g. 0-1-123) or GTID set".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token as a cookie value (cookie values may not contain commas).
    pub fn cookie_value(&self) -> String {
        self.0.replace(',', "/")
    }

    pub fn from_cookie(raw: &str) -> Result<Token, String> {
        Token::parse(&raw.replace('/', ","))
    }
}

fn digits(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
}

fn mariadb_gtid(part: &str) -> bool {
    let pieces: Vec<&str> = part.split('-').collect();
    pieces.len() == 3 && digits(pieces[0], 10) && digits(pieces[1], 10) && digits(pieces[2], 20)
}

fn mysql_gtid(part: &str) -> bool {
    let mut pieces = part.split(':');
    let uuid = pieces.next().unwrap_or_default();
    let uuid_ok = uuid.len() == 36
        && uuid.bytes().enumerate().all(|(i, b)| {
            if [8, 13, 18, 23].contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        });
    let mut intervals = 0;
    let intervals_ok = pieces.all(|interval| {
        intervals += 1;
        match interval.split_once('-') {
            Some((a, b)) => digits(a, 20) && digits(b, 20),
            None => digits(interval, 20),
        }
    });
    uuid_ok && intervals_ok && intervals > 0
}

/// Waits up to `wait` for this replica connection to have applied `token`.
pub async fn wait_for(
    conn: &mut AsyncMysqlConnection,
    flavor: Flavor,
    token: &Token,
    wait: Duration,
) -> diesel::QueryResult<bool> {
    let result: Option<i64> = diesel::select(GtidWait::new(flavor, token, wait))
        .get_result(conn)
        .await?;
    Ok(reached(result))
}

/// Whether a GTID wait's answer means "applied": 0 for both functions (MariaDB's
/// `MASTER_GTID_WAIT` answers -1 on timeout, MySQL's `WAIT_FOR_EXECUTED_GTID_SET` 1; NULL
/// means an argument was NULL).
fn reached(answer: Option<i64>) -> bool {
    answer == Some(0)
}

/// `CAST(<function>(?, ?) AS SIGNED)`: SQL text fixed per flavour, so a connection prepares
/// it once (`diesel::dsl::sql` would make it uncacheable: a prepare and a close per read).
struct GtidWait<'a> {
    function: &'static str,
    token: &'a str,
    seconds: f64,
}

impl<'a> GtidWait<'a> {
    fn new(flavor: Flavor, token: &'a Token, wait: Duration) -> Self {
        GtidWait {
            function: match flavor {
                Flavor::MariaDb => "MASTER_GTID_WAIT",
                Flavor::Mysql => "WAIT_FOR_EXECUTED_GTID_SET",
            },
            token: token.as_str(),
            seconds: wait.as_secs_f64(),
        }
    }
}

impl diesel::expression::Expression for GtidWait<'_> {
    type SqlType = Nullable<diesel::sql_types::BigInt>;
}

impl diesel::query_builder::QueryFragment<diesel::mysql::Mysql> for GtidWait<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::mysql::Mysql>,
    ) -> diesel::QueryResult<()> {
        out.push_sql("CAST(");
        out.push_sql(self.function);
        out.push_sql("(");
        out.push_bind_param::<Text, _>(self.token)?;
        out.push_sql(", ");
        out.push_bind_param::<Double, _>(&self.seconds)?;
        out.push_sql(") AS SIGNED)");
        Ok(())
    }
}

impl diesel::query_builder::QueryId for GtidWait<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<QS> diesel::expression::AppearsOnTable<QS> for GtidWait<'_> {}
impl<QS> diesel::expression::SelectableExpression<QS> for GtidWait<'_> {}
impl<GB> diesel::expression::ValidGrouping<GB> for GtidWait<'_> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn accepted<S: AsRef<str>>(tokens: &[S]) {
        for ok in tokens.iter().map(AsRef::as_ref) {
            assert!(Token::parse(ok).is_ok(), "{ok}");
        }
    }

    #[track_caller]
    fn refused<S: AsRef<str>>(tokens: &[S]) {
        for bad in tokens.iter().map(AsRef::as_ref) {
            assert!(Token::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accepts_gtids() {
        accepted(&[
            "0-1-123",
            "0-1-123,1-2-7",
            "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9,4e11fa47-71ca-11e1-9e33-c80aa9429562:3",
        ]);
    }

    #[test]
    fn refuses_anything_else() {
        refused(&[
            "",
            "0-1",
            "0-1-x",
            "0-1-1; DROP TABLE users",
            "0-1-1' OR '1'='1",
            "3E11FA47-71CA-11E1-9E33-C80AA9429562",
            "not-a-token",
        ]);
        refused(&["0-1-1,".repeat(1000)]);
    }

    // MySQL 8 is untested against a server (README): its tokens are GTID sets, checked here.
    #[test]
    fn mysql_gtid_sets() {
        let uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        accepted(&[
            format!("{uuid}:1"),
            format!("{uuid}:1-5:7:9-12"),
            format!("{uuid}:1-18446744073709551615"),
            // `gtid_executed` as MySQL prints it: comma and space between server UUIDs.
            format!("{uuid}:1-5, 4e11fa47-71ca-11e1-9e33-c80aa9429562:1-3"),
        ]);
        let spaced = Token::parse(&format!("{uuid}:1-5, {uuid}:7")).unwrap();
        assert_eq!(spaced.as_str(), format!("{uuid}:1-5,{uuid}:7"), "spaces go");
        refused(&[
            format!("{uuid}:"),
            format!("{uuid}:1-"),
            format!("{uuid}:-5"),
            format!("{uuid}:1-5-7"),
            format!("{uuid}:a"),
            format!("{uuid}:1:"),
            format!("{uuid}:123456789012345678901"),
            // A dash out of place, a UUID too short, one not hexadecimal.
            "3e11fa4-771ca-11e1-9e33-c80aa9429562:1".to_owned(),
            "3e11fa47-71ca-11e1-9e33-c80aa942956:1".to_owned(),
            "3e11fa47-71ca-11e1-9e33-c80aa942956g:1".to_owned(),
            format!("{uuid}:1'); DROP TABLE users; --"),
        ]);
    }

    #[test]
    fn mariadb_positions_are_bounded() {
        accepted(&["4294967295-4294967295-18446744073709551615"]);
        refused(&[
            "12345678901-1-1",
            "0-12345678901-1",
            "0-1-123456789012345678901",
            "-1-1-1",
        ]);
    }

    #[test]
    fn tokens_up_to_the_length_limit() {
        let part = "0-1-1";
        let fits = vec![part; MAX_LEN / (part.len() + 1)].join(",");
        assert!(fits.len() <= MAX_LEN);
        assert!(Token::parse(&fits).is_ok());
        let over = format!("{fits},{}", [part; 2].join(","));
        assert!(over.len() > MAX_LEN);
        assert!(Token::parse(&over).is_err());
    }

    #[test]
    fn mysql_sets_survive_the_cookie() {
        let raw =
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,4e11fa47-71ca-11e1-9e33-c80aa9429562:3";
        let token = Token::parse(raw).unwrap();
        assert!(!token.cookie_value().contains(','));
        assert_eq!(Token::from_cookie(&token.cookie_value()).unwrap(), token);
    }

    /// MySQL 8 runs against no server here (README): what each flavor is sent is checked as
    /// text, binds included, and must stay one cacheable statement per flavor.
    #[test]
    fn gtid_wait_sql_per_flavor() {
        use crate::db::sql::cached_mysql_text;
        let set = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5";
        let mysql = Token::parse(set).unwrap();
        let wait = diesel::select(GtidWait::new(
            Flavor::Mysql,
            &mysql,
            Duration::from_millis(50),
        ));
        assert_eq!(
            cached_mysql_text(&wait).as_deref(),
            Some("SELECT CAST(WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS SIGNED)")
        );
        assert_eq!(
            diesel::debug_query::<diesel::mysql::Mysql, _>(&wait).to_string(),
            format!(
                "SELECT CAST(WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS SIGNED) -- binds: [\"{set}\", 0.05]"
            ),
            "the set and the timeout in seconds are bound, never spliced in"
        );
        let mariadb = Token::parse("0-1-123").unwrap();
        let wait = diesel::select(GtidWait::new(
            Flavor::MariaDb,
            &mariadb,
            Duration::from_secs(2),
        ));
        assert_eq!(
            diesel::debug_query::<diesel::mysql::Mysql, _>(&wait).to_string(),
            "SELECT CAST(MASTER_GTID_WAIT(?, ?) AS SIGNED) -- binds: [\"0-1-123\", 2.0]"
        );
        assert!(cached_mysql_text(&wait).is_some());
    }

    #[test]
    fn gtid_wait_answers() {
        assert!(reached(Some(0)));
        assert!(!reached(Some(-1)), "MariaDB: timed out");
        assert!(!reached(Some(1)), "MySQL: timed out");
        assert!(!reached(None));
    }

    #[test]
    fn commit_gtid_sql_per_flavor() {
        use crate::db::sql::cached_mysql_text;
        let sent = |flavor| {
            cached_mysql_text(&diesel::select(fixed::<Nullable<Text>>(commit_gtid_sql(
                flavor,
            ))))
        };
        assert_eq!(sent(Flavor::MariaDb).as_deref(), Some("SELECT @@last_gtid"));
        assert_eq!(
            sent(Flavor::Mysql).as_deref(),
            Some("SELECT @@global.gtid_executed")
        );
    }

    #[test]
    fn cookie_round_trip() {
        let token = Token::parse("0-1-5,1-2-9").unwrap();
        assert_eq!(token.cookie_value(), "0-1-5/1-2-9");
        assert_eq!(Token::from_cookie(&token.cookie_value()).unwrap(), token);
    }
}
