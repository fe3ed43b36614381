//! Metric labels that a client can influence, kept to bounded sets: every distinct label
//! value is a new series in `/metrics`, so a flood of made-up values would be a memory and
//! scrape denial of service (2,000 made-up operation names once grew `/metrics` to 4 MB).
//!
//! - Operation names: the first [`MAX_OPERATION_NAMES`] distinct names of operations that
//!   were found in a parsed document label as themselves; every later new name is `other`.
//!   Real clients send a handful of fixed names, which a pod sees long before any flood.
//! - HTTP methods: the standard ones, anything else `other` (hyper accepts any token).
//! - Routes are axum's matched route patterns (or `unmatched`), statuses are the ones the
//!   server sends, and error codes come from [`crate::error::AppError`]: all bounded already.

use std::collections::HashSet;
use std::sync::Mutex;

use axum::http::Method;

/// Distinct operation names a pod labels metrics with.
pub const MAX_OPERATION_NAMES: usize = 100;

/// The operation names admitted so far (one set per app, like its router).
#[derive(Default)]
pub struct OperationLabels {
    admitted: Mutex<HashSet<String>>,
}

impl OperationLabels {
    /// The label for `name` (already reduced to a short identifier or a pseudo-name such as
    /// `anonymous`): itself if admitted, or admitted now when `admit` holds and there is
    /// room; otherwise `other`.
    pub fn label(&self, name: &str, admit: bool) -> String {
        if matches!(name, "anonymous" | "empty" | "other") {
            return name.to_owned();
        }
        // A poisoned lock only means another request panicked while holding it; the set
        // itself is still a valid set.
        let mut admitted = self
            .admitted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if admitted.contains(name) {
            return name.to_owned();
        }
        if admit && admitted.len() < MAX_OPERATION_NAMES {
            admitted.insert(name.to_owned());
            return name.to_owned();
        }
        "other".to_owned()
    }
}

/// The `method` label: a standard method's name, else `other`.
pub fn method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_capped() {
        let labels = OperationLabels::default();
        for i in 0..MAX_OPERATION_NAMES {
            assert_eq!(labels.label(&format!("Op{i}"), true), format!("Op{i}"));
        }
        assert_eq!(labels.label("OneTooMany", true), "other");
        assert_eq!(labels.label("Op7", true), "Op7", "admitted names stay");
        assert_eq!(labels.label("anonymous", true), "anonymous");
        let fresh = OperationLabels::default();
        assert_eq!(
            fresh.label("Refused", false),
            "other",
            "only admitted when asked"
        );
        assert_eq!(fresh.label("Refused", true), "Refused");
    }

    #[test]
    fn unknown_methods_are_other() {
        assert_eq!(method(&Method::POST), "POST");
        assert_eq!(method(&Method::from_bytes(b"FLOOD123").unwrap()), "other");
    }
}
