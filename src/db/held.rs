//! A connection a request keeps between its statements: the first connection the request
//! checks out (its auth check's, as a rule) serves the resolvers and loaders that follow, so
//! a request whose fields run one after another checks out one connection (and waits for a
//! consistency token once). Fields that run at the same time find the slot empty and check
//! out their own, which go back to the pool when done: only the first connection is kept, so
//! a request never hoards connections that its other fields wait for.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{DbConn, Target};

pub struct Held {
    slot: Mutex<Option<(DbConn, Target)>>,
    /// Whether the request has not yet kept a connection.
    first: AtomicBool,
}

impl Default for Held {
    fn default() -> Self {
        Held {
            slot: Mutex::new(None),
            first: AtomicBool::new(true),
        }
    }
}

impl Held {
    /// The kept connection, if no other field is using it.
    pub fn take(&self) -> Option<(DbConn, Target)> {
        self.slot.lock().ok()?.take()
    }

    /// Puts back a connection [`Held::take`] gave.
    pub fn put_back(&self, conn: DbConn, target: Target) {
        if let Ok(mut slot) = self.slot.lock()
            && slot.is_none()
        {
            *slot = Some((conn, target));
        }
    }

    /// Keeps a newly checked-out connection if it is the request's first; any later one goes
    /// back to its pool when dropped.
    pub fn keep_first(&self, conn: DbConn, target: Target) {
        if self.first.swap(false, Ordering::Relaxed) {
            self.put_back(conn, target);
        }
    }
}
