//! Sign-in rate limits per client IP and per account (GCRA via `governor`), kept in memory
//! per pod: with N pods an attacker gets at most N times the limit, still far from useful.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::AppError;

pub struct LoginLimits {
    per_ip: DefaultKeyedRateLimiter<String>,
    per_account: DefaultKeyedRateLimiter<String>,
}

impl LoginLimits {
    pub fn new(per_ip_per_minute: u32, per_account_per_minute: u32) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        LoginLimits {
            per_ip: RateLimiter::keyed(quota(per_ip_per_minute)),
            per_account: RateLimiter::keyed(quota(per_account_per_minute)),
        }
    }

    /// Counts one attempt; `RATE_LIMITED` with the wait when either limit is spent.
    pub fn check(&self, ip: &str, account: &str) -> Result<(), AppError> {
        for (limiter, key) in [(&self.per_ip, ip), (&self.per_account, account)] {
            if let Err(not_until) = limiter.check_key(&key.to_owned()) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Err(AppError::RateLimited {
                    retry_after_secs: whole_seconds(wait),
                });
            }
        }
        // Forget idle keys now and then so the maps stay small.
        if self.per_ip.len() > 10_000 {
            self.per_ip.retain_recent();
            self.per_account.retain_recent();
        }
        Ok(())
    }
}

/// `Retry-After` in whole seconds, rounded up: a client that waits exactly that long must
/// not be refused again for the fraction that was cut off.
fn whole_seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up() {
        use std::time::Duration;
        assert_eq!(whole_seconds(Duration::from_millis(28_100)), 29);
        assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
    }

    #[test]
    fn account_limit_applies_across_ips() {
        let limits = LoginLimits::new(100, 3);
        for i in 0..3 {
            assert!(limits.check(&format!("10.0.0.{i}"), "a@x").is_ok());
        }
        let err = limits.check("10.0.0.9", "a@x").unwrap_err();
        assert_eq!(err.code(), "RATE_LIMITED");
        assert!(limits.check("10.0.0.9", "b@x").is_ok());
    }
}
