//! A connection a request keeps between its statements: the auth check's connection serves
//! the resolvers and loaders that follow it, so a request whose fields run one after another
//! checks out one connection (and waits for a consistency token once). Fields that run at
//! the same time find the slot empty and check out their own; the first to finish puts its
//! connection back, the others return theirs to the pool.

use std::sync::Mutex;

use super::{DbConn, Target};

#[derive(Default)]
pub struct Held(Mutex<Option<(DbConn, Target)>>);

impl Held {
    /// The kept connection, if no other field is using it.
    pub fn take(&self) -> Option<(DbConn, Target)> {
        self.0.lock().ok()?.take()
    }

    /// Keeps `conn` for the request's next statement, unless one is kept already (then
    /// `conn` goes back to its pool).
    pub fn put(&self, conn: DbConn, target: Target) {
        if let Ok(mut slot) = self.0.lock()
            && slot.is_none()
        {
            *slot = Some((conn, target));
        }
    }
}
