//! What the retention task deletes, and how often (see `retention`).
//!
//! Reads `AUDIT_LOG_RETENTION`, `REFRESH_TOKEN_RETENTION`, `RETENTION_INTERVAL` and
//! `RETENTION_BATCH_SIZE`.

use std::time::Duration;

use super::ConfigError;
use super::env::Env;

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

pub(super) fn load(env: &Env) -> Result<RetentionConfig, ConfigError> {
    Ok(RetentionConfig {
        audit_log: env.duration_or_zero("AUDIT_LOG_RETENTION", "365d")?,
        refresh_tokens: env.duration_or_zero("REFRESH_TOKEN_RETENTION", "7d")?,
        interval: env.duration("RETENTION_INTERVAL", "1h")?,
        batch_size: env.number("RETENTION_BATCH_SIZE", 1000, 1..=100_000)?,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::config;

    #[test]
    fn zero_keeps_every_row() {
        let c = config(&[]).unwrap();
        assert_eq!(c.retention.audit_log, Duration::from_secs(365 * 86_400));
        let c = config(&[("AUDIT_LOG_RETENTION", "0")]).unwrap();
        assert!(c.retention.audit_log.is_zero(), "0 keeps everything");
    }
}
