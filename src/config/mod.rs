//! Typed configuration, read from the environment once at start-up and validated there.
//!
//! Every variable is optional in embedded (SQLite) mode; `.env.sample` documents each one
//! with its default, and a test keeps that file and [`known_vars`] (what the loaders read) in
//! step. A bad value stops start-up with one line naming the variable and the form it expects.
//!
//! One loader per concern, each listing the variables it reads: `database` (`DATABASE_*`,
//! `DB_*`, `REPLICA_*`), `server` (`LISTEN_ADDR`, `HTTP_*`, `SHUTDOWN_GRACE_PERIOD`, CORS,
//! `TRUSTED_PROXIES`), `graphql` (`GRAPHQL_*`), `auth` (`JWT_*`, token lifetimes, password
//! length, sign-in limits, `ADMIN_*`), `retention` and `logging`, all through one reader
//! (`env`). [`Config::from_lookup`] runs them in `.env.sample` order.
//!
//! Secrets (`JWT_SECRET`, `ADMIN_PASSWORD`, passwords inside database URLs) are held as
//! [`SecretString`](secrecy::SecretString) so they never reach a log through `Debug`.

mod auth;
mod database;
mod env;
mod graphql;
mod logging;
mod retention;
mod server;

pub use auth::{AuthConfig, JwtAlgorithm};
pub use database::{DatabaseConfig, DatabaseUrl};
pub use graphql::GraphqlConfig;
pub use logging::{LogConfig, LogFormat};
pub use retention::RetentionConfig;
pub use server::HttpConfig;

use env::Env;

/// A configuration value that cannot be used; displays as `VAR: reason`.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl ConfigError {
    fn new(var: &'static str, message: impl Into<String>) -> Self {
        Self {
            var,
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub graphql: GraphqlConfig,
    pub auth: AuthConfig,
    pub retention: RetentionConfig,
    pub log: LogConfig,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads configuration through `lookup`, so tests can pass a map instead of the environment.
    /// Empty values count as unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String> + 'static,
    ) -> Result<Self, ConfigError> {
        Self::load(&Env::new(lookup))
    }

    /// Every loader, in `.env.sample` order; the first refusal stops the start.
    fn load(env: &Env) -> Result<Self, ConfigError> {
        let database = database::load(env)?;
        Ok(Config {
            http: server::load(env)?,
            graphql: graphql::load(env)?,
            auth: auth::load(env, database.primary.is_mysql())?,
            retention: retention::load(env)?,
            log: logging::load(env)?,
            database,
        })
    }

    /// Embedded mode: the primary is a SQLite file.
    pub fn is_embedded(&self) -> bool {
        !self.database.primary.is_mysql()
    }

    /// Whether anonymous clients may introspect; embedded mode defaults to yes.
    pub fn public_introspection(&self) -> bool {
        self.graphql
            .public_introspection
            .unwrap_or_else(|| self.is_embedded())
    }
}

/// Every environment variable adminql reads, in the order the loaders read it (the order of
/// `.env.sample`): the record of a run over an empty environment. Every loader asks for all of
/// its variables on every run, and the defaults are a valid configuration, so the run reaches
/// every loader's end.
pub fn known_vars() -> Vec<&'static str> {
    let env = Env::new(|_| None);
    Config::load(&env).expect("the defaults are a valid configuration");
    env.read()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    /// The configuration `vars` make, with nothing else set.
    pub(super) fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |k| map.get(k).cloned())
    }

    /// The refusal `vars` make.
    pub(super) fn error(vars: &[(&str, &str)]) -> String {
        config(vars)
            .expect_err("config should be refused")
            .to_string()
    }

    /// Variables and the start of the message that refuses them.
    pub(super) type Refusal<'a> = (&'a [(&'a str, &'a str)], &'a str);

    /// Asserts that each case's variables are refused with a message that starts as given.
    #[track_caller]
    pub(super) fn refuses(cases: &[Refusal]) {
        for (vars, start) in cases {
            let message = error(vars);
            assert!(message.starts_with(start), "{vars:?}: {message}");
        }
    }

    #[test]
    fn refusals_name_the_variable() {
        #[rustfmt::skip]
        let cases: &[Refusal] = &[
            (&[("LISTEN_ADDR", "8080")], "LISTEN_ADDR: '8080'"),
            (&[("CORS_ALLOWED_ORIGINS", "https://a.example/path")], "CORS_ALLOWED_ORIGINS:"),
            (&[("HTTP_BODY_LIMIT", "1GB")], "HTTP_BODY_LIMIT:"),
            (&[("TRUSTED_PROXIES", "10.0.0.0/8, ingress")], "TRUSTED_PROXIES: 'ingress' is not a CIDR"),
            (&[("TRUST_FORWARDED_FOR", "true")], "TRUST_FORWARDED_FOR: no longer read"),
            (&[("DATABASE_URL", "postgres://db/app")], "DATABASE_URL: unsupported scheme 'postgres'"),
            (&[("DATABASE_URL", "not a url")], "DATABASE_URL: 'not a url' is not a URL"),
            (&[("DB_ACQUIRE_TIMEOUT", "soon")], "DB_ACQUIRE_TIMEOUT: 'soon' is not a duration"),
            (&[("DB_POOL_SIZE", "0")], "DB_POOL_SIZE: '0' is not a whole number from 1 to 1000"),
            (&[("DATABASE_URL", "mysql://u:p@db/app")], "JWT_SECRET: required"),
            (&[("JWT_SECRET", "short")], "JWT_SECRET: must be at least 32 bytes"),
            (&[("JWT_ALGORITHM", "RS256")], "JWT_ALGORITHM: 'RS256' needs a key pair"),
            // Spelled as in a token's header.
            (&[("JWT_ALGORITHM", "hs256")], "JWT_ALGORITHM: 'hs256' is not one of"),
            (&[("RETENTION_BATCH_SIZE", "0")], "RETENTION_BATCH_SIZE: '0'"),
            (&[("AUDIT_LOG_RETENTION", "forever")], "AUDIT_LOG_RETENTION:"),
            (&[("LOG_FORMAT", "xml")], "LOG_FORMAT: 'xml'"),
        ];
        refuses(cases);
    }

    pub(super) const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_are_embedded() {
        let c = config(&[]).unwrap();
        assert!(c.is_embedded());
        assert!(c.public_introspection());
        assert_eq!(c.http.listen_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(c.database.acquire_timeout, Duration::from_secs(1));
        assert_eq!(c.http.body_limit, 1024 * 1024);
    }

    #[test]
    fn env_sample_lists_every_known_var() {
        let sample = include_str!("../../.env.sample");
        let listed: Vec<&str> = sample
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('='))
            .filter_map(|l| l.split('=').next())
            .collect();
        let read = known_vars();
        let unlisted: Vec<_> = read.iter().filter(|v| !listed.contains(v)).collect();
        assert!(
            unlisted.is_empty(),
            "read but not in .env.sample: {unlisted:?}"
        );
        let unread: Vec<_> = listed.iter().filter(|v| !read.contains(v)).collect();
        assert!(
            unread.is_empty(),
            "in .env.sample but read by no loader: {unread:?}"
        );
        assert_eq!(
            listed, read,
            ".env.sample is not in the order the loaders read"
        );
    }
}
