//! Where the data lives and how connections to it behave.
//!
//! Reads `DATABASE_URL`, `DATABASE_REPLICA_URLS`, `DB_POOL_SIZE`, `DB_ACQUIRE_TIMEOUT`,
//! `DB_CONNECT_TIMEOUT`, `DB_STATEMENT_TIMEOUT`, `DB_TLS_MODE`, `DB_TLS_CA_FILE` (parsed by
//! `db::tls`), `REPLICA_CHECK_INTERVAL`, `REPLICA_MAX_LAG` and `REPLICA_GTID_WAIT`.
//! Passwords inside database URLs are held as [`SecretString`] and masked in every message.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::ConfigError;
use super::env::Env;
use crate::db::tls::TlsSettings;

/// Where a database lives.
#[derive(Clone, Debug)]
pub enum DatabaseUrl {
    /// `mysql://user:pass@host:port/db`; kept secret because it holds the password.
    Mysql(SecretString),
    /// A SQLite file (or `:memory:`).
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// The URL with its password masked, for logs and errors.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Mysql(url) => redact(url.expose_secret()),
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        }
    }

    pub fn is_mysql(&self) -> bool {
        matches!(self, DatabaseUrl::Mysql(_))
    }
}

#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    pub primary: DatabaseUrl,
    pub replicas: Vec<DatabaseUrl>,
    pub pool_size: usize,
    pub acquire_timeout: Duration,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
    pub replica_check_interval: Duration,
    pub replica_max_lag: Duration,
    pub replica_gtid_wait: Duration,
    /// `DB_TLS_MODE` and `DB_TLS_CA_FILE`, for every MySQL connection.
    pub tls: TlsSettings,
}

pub(super) fn load(env: &Env) -> Result<DatabaseConfig, ConfigError> {
    let primary = parse_url(
        "DATABASE_URL",
        &env.get("DATABASE_URL")
            .unwrap_or_else(|| "sqlite://adminql.db".into()),
    )?;
    let replicas = replicas(env, &primary)?;
    Ok(DatabaseConfig {
        pool_size: env.number("DB_POOL_SIZE", 10, 1..=1000)?,
        acquire_timeout: env.duration("DB_ACQUIRE_TIMEOUT", "1s")?,
        connect_timeout: env.duration("DB_CONNECT_TIMEOUT", "1s")?,
        statement_timeout: env.duration("DB_STATEMENT_TIMEOUT", "5s")?,
        tls: TlsSettings::from_vars(
            env.get("DB_TLS_MODE").as_deref(),
            env.get("DB_TLS_CA_FILE").as_deref(),
            primary.is_mysql(),
        )?,
        replica_check_interval: env.duration("REPLICA_CHECK_INTERVAL", "1s")?,
        replica_max_lag: env.duration("REPLICA_MAX_LAG", "5s")?,
        replica_gtid_wait: env.duration("REPLICA_GTID_WAIT", "50ms")?,
        primary,
        replicas,
    })
}

/// `DATABASE_REPLICA_URLS`: mysql:// URLs only, and only beside a mysql:// primary.
fn replicas(env: &Env, primary: &DatabaseUrl) -> Result<Vec<DatabaseUrl>, ConfigError> {
    const VAR: &str = "DATABASE_REPLICA_URLS";
    let mut replicas = Vec::new();
    for raw in env.list(VAR) {
        match parse_url(VAR, &raw)? {
            url @ DatabaseUrl::Mysql(_) => replicas.push(url),
            DatabaseUrl::Sqlite(_) => {
                return Err(ConfigError::new(
                    VAR,
                    format!("'{raw}' is not a mysql:// URL"),
                ));
            }
        }
    }
    if !replicas.is_empty() && !primary.is_mysql() {
        return Err(ConfigError::new(
            VAR,
            "replicas need a mysql:// DATABASE_URL",
        ));
    }
    Ok(replicas)
}

fn parse_url(var: &'static str, raw: &str) -> Result<DatabaseUrl, ConfigError> {
    let raw = raw.trim();
    if let Some(path) = raw.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(ConfigError::new(
                var,
                "'sqlite://' needs a file path, e.g. sqlite://adminql.db",
            ));
        }
        return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
    }
    let url = url::Url::parse(raw).map_err(|_| {
        ConfigError::new(
            var,
            format!(
                "'{}' is not a URL like mysql://user:password@host:3306/db or sqlite://path",
                redact_unparsed(raw)
            ),
        )
    })?;
    match url.scheme() {
        "mysql" | "mariadb" => {}
        other => {
            return Err(ConfigError::new(
                var,
                format!("unsupported scheme '{other}': use mysql:// or sqlite://"),
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(
            var,
            format!("'{}' has no host", redact(raw)),
        ));
    }
    if url.path().trim_matches('/').is_empty() {
        return Err(ConfigError::new(
            var,
            format!("'{}' names no database (add /dbname)", redact(raw)),
        ));
    }
    // mysql_async only speaks mysql://; mariadb:// is accepted as a friendly alias.
    let normalized = if url.scheme() == "mariadb" {
        format!("mysql{}", &raw["mariadb".len()..])
    } else {
        raw.to_owned()
    };
    Ok(DatabaseUrl::Mysql(SecretString::from(normalized)))
}

fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => "<unparsable url>".to_owned(),
    }
}

/// An unparsable URL may still contain a password; show only its scheme-ish prefix.
fn redact_unparsed(raw: &str) -> String {
    match raw.find('@') {
        Some(_) => "<url with credentials>".to_owned(),
        None => raw.chars().take(80).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{SECRET, config, error};

    #[test]
    fn mysql_with_replicas() {
        let c = config(&[
            ("DATABASE_URL", "mysql://u:p@db:3306/app"),
            (
                "DATABASE_REPLICA_URLS",
                "mysql://u:p@r1/app, mariadb://u:p@r2/app",
            ),
            ("JWT_SECRET", SECRET),
        ])
        .unwrap();
        assert!(!c.is_embedded());
        assert!(!c.public_introspection());
        assert_eq!(c.database.replicas.len(), 2);
        assert_eq!(c.database.primary.redacted(), "mysql://u:***@db:3306/app");
    }

    #[test]
    fn replicas_must_be_mysql() {
        assert_eq!(
            error(&[
                ("DATABASE_URL", "mysql://u@db/app"),
                ("JWT_SECRET", SECRET),
                ("DATABASE_REPLICA_URLS", "sqlite://x")
            ]),
            "DATABASE_REPLICA_URLS: 'sqlite://x' is not a mysql:// URL"
        );
    }

    #[test]
    fn passwords_never_show_in_errors() {
        let msg = error(&[("DATABASE_URL", "mysql://u:hunter2@/app")]);
        assert!(!msg.contains("hunter2"), "{msg}");
        let msg = error(&[("DATABASE_URL", "mysql://u:hunter2@db")]);
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}
