//! The clock every timestamp adminql stores comes from.

use chrono::NaiveDateTime;

/// The current time, truncated to microseconds (what DATETIME(6) keeps).
pub fn now() -> NaiveDateTime {
    use chrono::{SubsecRound, Utc};
    Utc::now().naive_utc().trunc_subsecs(6)
}
