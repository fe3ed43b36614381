//! How the HTTP server listens, limits requests, shuts down, and whom it believes.
//!
//! Reads `LISTEN_ADDR`, `HTTP_BODY_LIMIT`, `HTTP_REQUEST_TIMEOUT`, `SHUTDOWN_GRACE_PERIOD`,
//! `CORS_ALLOWED_ORIGINS` and `TRUSTED_PROXIES`; refuses `TRUST_FORWARDED_FOR=true`, which
//! `TRUSTED_PROXIES` replaced.

use std::net::SocketAddr;
use std::time::Duration;

use super::ConfigError;
use super::env::{Env, boolean};

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

pub(super) fn load(env: &Env) -> Result<HttpConfig, ConfigError> {
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
        cors_allowed_origins: origins(env, "CORS_ALLOWED_ORIGINS")?,
        trusted_proxies: networks(env, "TRUSTED_PROXIES")?,
    };
    // Replaced by TRUSTED_PROXIES: "true" meant believing the left-most entry, which the
    // client writes. Refused rather than ignored, so a deployment that relied on it
    // learns at start that per-IP limits would otherwise count its proxy's address.
    const RETIRED: &str = "TRUST_FORWARDED_FOR";
    if boolean(RETIRED, env.retired(RETIRED))? == Some(true) {
        return Err(ConfigError::new(
            RETIRED,
            "no longer read: list your proxies' addresses in TRUSTED_PROXIES (CIDRs, e.g. 10.0.0.0/8) instead",
        ));
    }
    Ok(http)
}

/// Comma-separated browser origins: scheme, host and port, no path.
fn origins(env: &Env, var: &'static str) -> Result<Vec<String>, ConfigError> {
    env.list(var)
        .into_iter()
        .map(|raw| {
            let ok = url::Url::parse(&raw).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.path() == "/"
                    && !raw.ends_with('/')
            });
            if ok {
                Ok(raw)
            } else {
                Err(ConfigError::new(
                    var,
                    format!("'{raw}' is not an origin like https://admin.example.com"),
                ))
            }
        })
        .collect()
}

/// Comma-separated CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses.
fn networks(env: &Env, var: &'static str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    env.list(var)
        .into_iter()
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

#[cfg(test)]
mod tests {
    use super::super::tests::config;

    #[test]
    fn trusted_proxies() {
        assert!(config(&[]).unwrap().http.trusted_proxies.is_empty());
        let c = config(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7, fd00::/8")]).unwrap();
        assert_eq!(c.http.trusted_proxies.len(), 3);
    }

    #[test]
    fn trust_forwarded_for_false_is_harmless() {
        assert!(config(&[("TRUST_FORWARDED_FOR", "false")]).is_ok());
    }
}
