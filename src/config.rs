//! Typed configuration, read from the environment once at start-up and validated there.
//!
//! Every variable is optional in embedded (SQLite) mode; `.env.sample` documents each one
//! with its default, and a test keeps that file and [`KNOWN_VARS`] in step. A bad value
//! stops start-up with one line naming the variable and the form it expects.
//!
//! Secrets (`JWT_SECRET`, `ADMIN_PASSWORD`, passwords inside database URLs) are held as
//! [`SecretString`] so they never reach a log through `Debug`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// What `JWT_ALGORITHM` may name with `JWT_PRIVATE_KEY_FILE`/`JWT_PUBLIC_KEY_FILE`; without
/// them only HS256 (`JWT_SECRET`) signs.
pub const KEY_PAIR_ALGORITHMS: &[&str] = &["RS256", "ES256", "EdDSA"];

/// Every environment variable adminql reads, in `.env.sample` order.
pub const KNOWN_VARS: &[&str] = &[
    "DATABASE_URL",
    "DATABASE_REPLICA_URLS",
    "DB_POOL_SIZE",
    "DB_ACQUIRE_TIMEOUT",
    "DB_CONNECT_TIMEOUT",
    "DB_STATEMENT_TIMEOUT",
    "DB_TLS_MODE",
    "DB_TLS_CA_FILE",
    "REPLICA_CHECK_INTERVAL",
    "REPLICA_MAX_LAG",
    "REPLICA_GTID_WAIT",
    "LISTEN_ADDR",
    "HTTP_BODY_LIMIT",
    "HTTP_REQUEST_TIMEOUT",
    "SHUTDOWN_GRACE_PERIOD",
    "CORS_ALLOWED_ORIGINS",
    "TRUSTED_PROXIES",
    "GRAPHQL_MAX_PAGE_SIZE",
    "GRAPHQL_COUNT_CACHE_TTL",
    "GRAPHQL_MAX_DEPTH",
    "GRAPHQL_MAX_COMPLEXITY",
    "GRAPHQL_MAX_FIELDS",
    "GRAPHQL_MAX_ROOT_FIELDS",
    "GRAPHQL_PUBLIC_INTROSPECTION",
    "JWT_SECRET",
    "JWT_PRIVATE_KEY_FILE",
    "JWT_PUBLIC_KEY_FILE",
    "JWT_ALGORITHM",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "ACCESS_TOKEN_TTL",
    "REFRESH_TOKEN_TTL",
    "PASSWORD_MIN_LENGTH",
    "LOGIN_RATE_LIMIT_PER_IP",
    "LOGIN_RATE_LIMIT_PER_ACCOUNT",
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
    "AUDIT_LOG_RETENTION",
    "REFRESH_TOKEN_RETENTION",
    "RETENTION_INTERVAL",
    "RETENTION_BATCH_SIZE",
    "LOG_FORMAT",
    "RUST_LOG",
];

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
    pub tls: crate::db::tls::TlsSettings,
}

#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub listen_addr: SocketAddr,
    pub body_limit: usize,
    pub request_timeout: Duration,
    pub shutdown_grace_period: Duration,
    pub cors_allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` entries are believed (see `http::client_ip`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

#[derive(Clone, Debug)]
pub struct GraphqlConfig {
    pub max_page_size: u32,
    /// How long a list total may be reused (see `graphql::count_cache`); zero: never.
    pub count_cache_ttl: Duration,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_fields: usize,
    pub max_root_fields: usize,
    /// Anonymous introspection; `None` means "the mode's default".
    pub public_introspection: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub jwt_secret: Option<SecretString>,
    pub jwt_private_key_file: Option<PathBuf>,
    pub jwt_public_key_file: Option<PathBuf>,
    pub jwt_algorithm: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub password_min_length: usize,
    pub login_rate_limit_per_ip: u32,
    pub login_rate_limit_per_account: u32,
    pub admin_email: Option<String>,
    pub admin_password: Option<SecretString>,
}

/// What the retention task deletes, and how (see `retention`).
#[derive(Clone, Debug)]
pub struct RetentionConfig {
    /// Age past which audit rows are deleted; zero keeps every row.
    pub audit_log: Duration,
    /// How long a refresh token is kept past its expiry or revocation; zero keeps every row.
    pub refresh_tokens: Duration,
    /// Time between passes.
    pub interval: Duration,
    /// Most rows one statement deletes.
    pub batch_size: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub graphql: GraphqlConfig,
    pub auth: AuthConfig,
    pub retention: RetentionConfig,
    pub log_format: LogFormat,
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
        let env = Env(Box::new(move |k| {
            lookup(k).filter(|v| !v.trim().is_empty())
        }));

        let primary = parse_database_url(
            "DATABASE_URL",
            &env.get("DATABASE_URL")
                .unwrap_or_else(|| "sqlite://adminql.db".into()),
        )?;
        let mut replicas = Vec::new();
        for raw in env
            .get("DATABASE_REPLICA_URLS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match parse_database_url("DATABASE_REPLICA_URLS", raw)? {
                url @ DatabaseUrl::Mysql(_) => replicas.push(url),
                DatabaseUrl::Sqlite(_) => {
                    return Err(ConfigError::new(
                        "DATABASE_REPLICA_URLS",
                        format!("'{raw}' is not a mysql:// URL"),
                    ));
                }
            }
        }
        if !replicas.is_empty() && !primary.is_mysql() {
            return Err(ConfigError::new(
                "DATABASE_REPLICA_URLS",
                "replicas need a mysql:// DATABASE_URL",
            ));
        }

        let tls = crate::db::tls::TlsSettings::from_vars(
            env.get("DB_TLS_MODE").as_deref(),
            env.get("DB_TLS_CA_FILE").as_deref(),
            primary.is_mysql(),
        )?;
        let database = DatabaseConfig {
            primary,
            replicas,
            pool_size: env.number("DB_POOL_SIZE", 10, 1..=1000)?,
            acquire_timeout: env.duration("DB_ACQUIRE_TIMEOUT", "1s")?,
            connect_timeout: env.duration("DB_CONNECT_TIMEOUT", "1s")?,
            statement_timeout: env.duration("DB_STATEMENT_TIMEOUT", "5s")?,
            replica_check_interval: env.duration("REPLICA_CHECK_INTERVAL", "1s")?,
            replica_max_lag: env.duration("REPLICA_MAX_LAG", "5s")?,
            replica_gtid_wait: env.duration("REPLICA_GTID_WAIT", "50ms")?,
            tls,
        };

        let listen = env
            .get("LISTEN_ADDR")
            .unwrap_or_else(|| "0.0.0.0:8080".into());
        let http = HttpConfig {
            listen_addr: listen.parse().map_err(|_| {
                ConfigError::new(
                    "LISTEN_ADDR",
                    format!("'{listen}' is not a socket address like 0.0.0.0:8080"),
                )
            })?,
            body_limit: env.bytes("HTTP_BODY_LIMIT", 1024 * 1024)?,
            request_timeout: env.duration("HTTP_REQUEST_TIMEOUT", "30s")?,
            shutdown_grace_period: env.duration("SHUTDOWN_GRACE_PERIOD", "20s")?,
            cors_allowed_origins: env.origins("CORS_ALLOWED_ORIGINS")?,
            trusted_proxies: env.networks("TRUSTED_PROXIES")?,
        };
        // Replaced by TRUSTED_PROXIES: "true" meant believing the left-most entry, which the
        // client writes. Refused rather than ignored, so a deployment that relied on it
        // learns at start that per-IP limits would otherwise count its proxy's address.
        if env.boolean("TRUST_FORWARDED_FOR")? == Some(true) {
            return Err(ConfigError::new(
                "TRUST_FORWARDED_FOR",
                "no longer read: list your proxies' addresses in TRUSTED_PROXIES (CIDRs, e.g. 10.0.0.0/8) instead",
            ));
        }

        let graphql = GraphqlConfig {
            max_page_size: env.number("GRAPHQL_MAX_PAGE_SIZE", 100, 1..=10_000)?,
            count_cache_ttl: env.duration_or_zero("GRAPHQL_COUNT_CACHE_TTL", "1s")?,
            max_depth: env.number("GRAPHQL_MAX_DEPTH", 10, 2..=100)?,
            max_complexity: env.number("GRAPHQL_MAX_COMPLEXITY", 20_000, 10..=10_000_000)?,
            max_fields: env.number("GRAPHQL_MAX_FIELDS", 200, 1..=100_000)?,
            max_root_fields: env.number("GRAPHQL_MAX_ROOT_FIELDS", 20, 1..=1000)?,
            public_introspection: env.boolean("GRAPHQL_PUBLIC_INTROSPECTION")?,
        };

        let jwt_secret = env.get("JWT_SECRET").map(SecretString::from);
        // Beside a key pair the secret is not used (auth::keys warns), so its length is moot.
        let key_pair = env.get("JWT_PRIVATE_KEY_FILE").is_some();
        if let Some(secret) = &jwt_secret
            && !key_pair
            && secret.expose_secret().len() < 32
        {
            return Err(ConfigError::new(
                "JWT_SECRET",
                "must be at least 32 bytes (try: openssl rand -base64 48)",
            ));
        }
        let auth = AuthConfig {
            jwt_secret,
            jwt_private_key_file: env.get("JWT_PRIVATE_KEY_FILE").map(PathBuf::from),
            jwt_public_key_file: env.get("JWT_PUBLIC_KEY_FILE").map(PathBuf::from),
            jwt_algorithm: env.get("JWT_ALGORITHM"),
            issuer: env.get("JWT_ISSUER").unwrap_or_else(|| "adminql".into()),
            audience: env.get("JWT_AUDIENCE").unwrap_or_else(|| "adminql".into()),
            access_token_ttl: env.duration("ACCESS_TOKEN_TTL", "15m")?,
            refresh_token_ttl: env.duration("REFRESH_TOKEN_TTL", "14d")?,
            password_min_length: env.number("PASSWORD_MIN_LENGTH", 12, 8..=1024)?,
            login_rate_limit_per_ip: env.number("LOGIN_RATE_LIMIT_PER_IP", 10, 1..=100_000)?,
            login_rate_limit_per_account: env.number(
                "LOGIN_RATE_LIMIT_PER_ACCOUNT",
                5,
                1..=100_000,
            )?,
            admin_email: env.get("ADMIN_EMAIL"),
            admin_password: env.get("ADMIN_PASSWORD").map(SecretString::from),
        };
        if auth.jwt_private_key_file.is_some() != auth.jwt_public_key_file.is_some() {
            return Err(ConfigError::new(
                "JWT_PRIVATE_KEY_FILE",
                "JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE must be set together",
            ));
        }
        if let Some(algorithm) = &auth.jwt_algorithm {
            if key_pair && !KEY_PAIR_ALGORITHMS.contains(&algorithm.as_str()) {
                return Err(ConfigError::new(
                    "JWT_ALGORITHM",
                    format!(
                        "'{algorithm}' is not one of {} (the algorithms of a key pair)",
                        KEY_PAIR_ALGORITHMS.join(", ")
                    ),
                ));
            }
            if !key_pair && algorithm != "HS256" {
                return Err(ConfigError::new(
                    "JWT_ALGORITHM",
                    format!(
                        "'{algorithm}' needs a key pair: set JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE, or unset JWT_ALGORITHM to sign with JWT_SECRET (HS256)"
                    ),
                ));
            }
        }
        if database.primary.is_mysql()
            && auth.jwt_secret.is_none()
            && auth.jwt_private_key_file.is_none()
        {
            return Err(ConfigError::new(
                "JWT_SECRET",
                "required with a mysql:// DATABASE_URL (32+ bytes, or set JWT_PRIVATE_KEY_FILE/JWT_PUBLIC_KEY_FILE)",
            ));
        }

        let retention = RetentionConfig {
            audit_log: env.duration_or_zero("AUDIT_LOG_RETENTION", "365d")?,
            refresh_tokens: env.duration_or_zero("REFRESH_TOKEN_RETENTION", "7d")?,
            interval: env.duration("RETENTION_INTERVAL", "1h")?,
            batch_size: env.number("RETENTION_BATCH_SIZE", 1000, 1..=100_000)?,
        };

        let log_format = match env.get("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("'{other}' is not one of: pretty, json"),
                ));
            }
        };

        Ok(Config {
            database,
            http,
            graphql,
            auth,
            retention,
            log_format,
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

type Lookup = Box<dyn Fn(&str) -> Option<String>>;

struct Env(Lookup);

impl Env {
    fn get(&self, key: &str) -> Option<String> {
        (self.0)(key)
    }

    fn duration(&self, var: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let parsed = self.duration_or_zero(var, default)?;
        if parsed.is_zero() {
            return Err(ConfigError::new(var, "must be greater than zero"));
        }
        Ok(parsed)
    }

    /// A duration where zero means "off".
    fn duration_or_zero(&self, var: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let raw = self.get(var).unwrap_or_else(|| default.into());
        humantime::parse_duration(raw.trim()).map_err(|_| {
            ConfigError::new(
                var,
                format!("'{raw}' is not a duration like 500ms, 5s or 15m"),
            )
        })
    }

    fn number<T>(
        &self,
        var: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.get(var) else {
            return Ok(default);
        };
        match raw.trim().parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ConfigError::new(
                var,
                format!(
                    "'{raw}' is not a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    fn boolean(&self, var: &'static str) -> Result<Option<bool>, ConfigError> {
        match self
            .get(var)
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None => Ok(None),
            Some("true" | "1" | "yes" | "on") => Ok(Some(true)),
            Some("false" | "0" | "no" | "off") => Ok(Some(false)),
            Some(other) => Err(ConfigError::new(
                var,
                format!("'{other}' is not a boolean (true or false)"),
            )),
        }
    }

    fn bytes(&self, var: &'static str, default: usize) -> Result<usize, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(default);
        };
        parse_bytes(&raw).ok_or_else(|| {
            ConfigError::new(
                var,
                format!("'{raw}' is not a size like 1048576, 512KiB or 1MiB"),
            )
        })
    }

    fn origins(&self, var: &'static str) -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        for raw in self
            .get(var)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let ok = url::Url::parse(raw).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.path() == "/"
                    && !raw.ends_with('/')
            });
            if !ok {
                return Err(ConfigError::new(
                    var,
                    format!("'{raw}' is not an origin like https://admin.example.com"),
                ));
            }
            out.push(raw.to_owned());
        }
        Ok(out)
    }
}

impl Env {
    /// Comma-separated CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses.
    fn networks(&self, var: &'static str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        let raw = self.get(var).unwrap_or_default();
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|entry| {
                entry
                    .parse::<ipnet::IpNet>()
                    .map(|net| net.trunc())
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        ConfigError::new(
                            var,
                            format!("'{entry}' is not a CIDR like 10.0.0.0/8 or an IP address"),
                        )
                    })
            })
            .collect()
    }
}

fn parse_bytes(raw: &str) -> Option<usize> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let n: usize = digits.parse().ok()?;
    let factor = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "k" => 1024,
        "MiB" | "M" => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(factor).filter(|&v| v > 0)
}

fn parse_database_url(var: &'static str, raw: &str) -> Result<DatabaseUrl, ConfigError> {
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

/// An unparsable URL may still contain a password; show only its scheme-ish prefix.
fn redact_unparsed(raw: &str) -> String {
    match raw.find('@') {
        Some(_) => "<url with credentials>".to_owned(),
        None => raw.chars().take(80).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |k| map.get(k).cloned())
    }

    fn error(vars: &[(&str, &str)]) -> String {
        config(vars)
            .expect_err("config should be refused")
            .to_string()
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_are_embedded() {
        let c = config(&[]).unwrap();
        assert!(c.is_embedded());
        assert!(c.public_introspection());
        assert_eq!(c.http.listen_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(c.database.acquire_timeout, Duration::from_secs(1));
        assert_eq!(c.http.body_limit, 1024 * 1024);
        assert_eq!(c.auth.access_token_ttl, Duration::from_secs(900));
        assert!(c.http.trusted_proxies.is_empty());
        assert_eq!(c.retention.audit_log, Duration::from_secs(365 * 86_400));
        let c = config(&[
            ("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7, fd00::/8"),
            ("AUDIT_LOG_RETENTION", "0"),
        ])
        .unwrap();
        assert_eq!(c.http.trusted_proxies.len(), 3);
        assert!(c.retention.audit_log.is_zero(), "0 keeps everything");
    }

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
    fn refusals_name_the_variable() {
        assert_eq!(
            error(&[
                ("DATABASE_URL", "mysql://u@db/app"),
                ("JWT_SECRET", SECRET),
                ("DATABASE_REPLICA_URLS", "sqlite://x")
            ]),
            "DATABASE_REPLICA_URLS: 'sqlite://x' is not a mysql:// URL"
        );
        assert!(
            error(&[("DATABASE_URL", "postgres://db/app")])
                .starts_with("DATABASE_URL: unsupported scheme 'postgres'")
        );
        assert!(
            error(&[("DATABASE_URL", "not a url")])
                .starts_with("DATABASE_URL: 'not a url' is not a URL")
        );
        assert!(
            error(&[("DATABASE_URL", "mysql://u:p@db/app")]).starts_with("JWT_SECRET: required")
        );
        assert!(
            error(&[("JWT_SECRET", "short")]).starts_with("JWT_SECRET: must be at least 32 bytes")
        );
        assert!(
            error(&[("JWT_ALGORITHM", "RS256")])
                .starts_with("JWT_ALGORITHM: 'RS256' needs a key pair")
        );
        let pair = [
            ("JWT_PRIVATE_KEY_FILE", "k.pem"),
            ("JWT_PUBLIC_KEY_FILE", "k.pub"),
        ];
        assert!(
            error(&[pair[0], pair[1], ("JWT_ALGORITHM", "RS265")])
                .starts_with("JWT_ALGORITHM: 'RS265' is not one of RS256, ES256, EdDSA")
        );
        assert!(
            error(&[pair[0], pair[1], ("JWT_ALGORITHM", "HS256")])
                .starts_with("JWT_ALGORITHM: 'HS256'")
        );
        assert!(config(&[("JWT_ALGORITHM", "HS256")]).is_ok());
        assert!(
            config(&[
                pair[0],
                pair[1],
                ("JWT_ALGORITHM", "EdDSA"),
                ("JWT_SECRET", "short")
            ])
            .is_ok(),
            "a secret beside a key pair is ignored, whatever its length"
        );
        assert!(
            error(&[("DB_ACQUIRE_TIMEOUT", "soon")])
                .starts_with("DB_ACQUIRE_TIMEOUT: 'soon' is not a duration")
        );
        assert!(
            error(&[("DB_POOL_SIZE", "0")])
                .starts_with("DB_POOL_SIZE: '0' is not a whole number from 1 to 1000")
        );
        assert!(error(&[("LISTEN_ADDR", "8080")]).starts_with("LISTEN_ADDR: '8080'"));
        assert!(error(&[("LOG_FORMAT", "xml")]).starts_with("LOG_FORMAT: 'xml'"));
        assert!(
            error(&[("CORS_ALLOWED_ORIGINS", "https://a.example/path")])
                .starts_with("CORS_ALLOWED_ORIGINS:")
        );
        assert!(error(&[("HTTP_BODY_LIMIT", "1GB")]).starts_with("HTTP_BODY_LIMIT:"));
        assert!(
            error(&[("TRUSTED_PROXIES", "10.0.0.0/8, ingress")])
                .starts_with("TRUSTED_PROXIES: 'ingress' is not a CIDR")
        );
        assert!(
            error(&[("TRUST_FORWARDED_FOR", "true")])
                .starts_with("TRUST_FORWARDED_FOR: no longer read")
        );
        assert!(config(&[("TRUST_FORWARDED_FOR", "false")]).is_ok());
        assert!(error(&[("RETENTION_BATCH_SIZE", "0")]).starts_with("RETENTION_BATCH_SIZE: '0'"));
        assert!(error(&[("AUDIT_LOG_RETENTION", "forever")]).starts_with("AUDIT_LOG_RETENTION:"));
    }

    #[test]
    fn passwords_never_show_in_errors() {
        let msg = error(&[("DATABASE_URL", "mysql://u:hunter2@/app")]);
        assert!(!msg.contains("hunter2"), "{msg}");
        let msg = error(&[("DATABASE_URL", "mysql://u:hunter2@db")]);
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512KiB"), Some(512 * 1024));
        assert_eq!(parse_bytes("2MiB"), Some(2 * 1024 * 1024));
        assert_eq!(parse_bytes("100"), Some(100));
        assert_eq!(parse_bytes("0"), None);
        assert_eq!(parse_bytes("x"), None);
    }

    #[test]
    fn env_sample_lists_every_known_var() {
        let sample = include_str!("../.env.sample");
        let listed: Vec<&str> = sample
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('='))
            .filter_map(|l| l.split('=').next())
            .collect();
        assert_eq!(listed, KNOWN_VARS, ".env.sample and KNOWN_VARS differ");
    }
}
