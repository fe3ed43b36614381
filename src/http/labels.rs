//! Metric labels that a client can influence, kept to bounded sets: every distinct label
//! value is a new series in `/metrics`, so a flood of made-up values would be a memory and
//! scrape denial of service (2,000 made-up operation names once grew `/metrics` to 4 MB).
//!
//! - Operation names: the first [`MAX_OPERATION_NAMES`] distinct names of operations that
//!   were found in a parsed document label as themselves; every later new name is `other`.
//!   Real clients send a handful of fixed names, which a pod sees long before any flood.
//!   Requests without a verified token admit at most [`MAX_ANONYMOUS_NAMES`] of them, so an
//!   anonymous flood cannot take the slots of the names signed-in clients use.
//! - HTTP methods: the standard ones, anything else `other` (hyper accepts any token).
//! - Routes are axum's matched route patterns (or `unmatched`), statuses are the ones the
//!   server sends, and error codes come from [`crate::error::AppError`]: all bounded already.

use std::collections::HashSet;
use std::sync::Mutex;

use axum::http::Method;

/// Distinct operation names a pod labels metrics with.
pub const MAX_OPERATION_NAMES: usize = 100;

/// Of those, how many requests without a verified token may admit.
pub const MAX_ANONYMOUS_NAMES: usize = 20;

/// Who asks for a name to be admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    /// The request carried a token that verified.
    SignedIn,
}

/// The operation names admitted so far (one set per app, like its router).
#[derive(Default)]
pub struct OperationLabels {
    admitted: Mutex<Admitted>,
}

#[derive(Default)]
struct Admitted {
    names: HashSet<String>,
    by_anonymous: usize,
}

impl OperationLabels {
    /// The label for `name` (already reduced to a short identifier or a pseudo-name such as
    /// `anonymous`): itself if admitted, or admitted now when `admit` holds and there is
    /// room for `caller`; otherwise `other`.
    pub fn label(&self, name: &str, admit: bool, caller: Caller) -> String {
        if matches!(name, "anonymous" | "empty" | "other") {
            return name.to_owned();
        }
        // A poisoned lock only means another request panicked while holding it; the set
        // itself is still a valid set.
        let mut admitted = self
            .admitted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if admitted.names.contains(name) {
            return name.to_owned();
        }
        let room = admitted.names.len() < MAX_OPERATION_NAMES
            && (caller == Caller::SignedIn || admitted.by_anonymous < MAX_ANONYMOUS_NAMES);
        if !(admit && room) {
            return "other".to_owned();
        }
        admitted.names.insert(name.to_owned());
        if caller == Caller::Anonymous {
            admitted.by_anonymous += 1;
        }
        name.to_owned()
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
        use Caller::{Anonymous, SignedIn};
        let labels = OperationLabels::default();
        for i in 0..MAX_OPERATION_NAMES {
            assert_eq!(
                labels.label(&format!("Op{i}"), true, SignedIn),
                format!("Op{i}")
            );
        }
        assert_eq!(labels.label("OneTooMany", true, SignedIn), "other");
        assert_eq!(
            labels.label("Op7", true, Anonymous),
            "Op7",
            "admitted names stay"
        );
        assert_eq!(labels.label("anonymous", true, SignedIn), "anonymous");
        let fresh = OperationLabels::default();
        assert_eq!(
            fresh.label("Refused", false, SignedIn),
            "other",
            "only admitted when asked"
        );
        assert_eq!(fresh.label("Refused", true, SignedIn), "Refused");
    }

    #[test]
    fn anonymous_callers_take_a_share_of_the_names() {
        let labels = OperationLabels::default();
        for i in 0..MAX_ANONYMOUS_NAMES {
            assert_eq!(
                labels.label(&format!("A{i}"), true, Caller::Anonymous),
                format!("A{i}")
            );
        }
        assert_eq!(labels.label("OneMore", true, Caller::Anonymous), "other");
        assert_eq!(labels.label("Signed", true, Caller::SignedIn), "Signed");
    }

    #[test]
    fn unknown_methods_are_other() {
        assert_eq!(method(&Method::POST), "POST");
        assert_eq!(method(&Method::from_bytes(b"FLOOD123").unwrap()), "other");
    }
}
