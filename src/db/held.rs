//! The one connection a request keeps between its statements.
//!
//! The first connection a request checks out (its auth check's, as a rule) serves every read
//! that follows: resolvers and loaders take it in turn, waiting while another field of the
//! same request is using it, instead of checking out a connection of their own. So a request
//! checks out one connection (and waits for its consistency token once), and never holds one
//! connection while it waits on the pool for another: requests that each held one and waited
//! for a second could exhaust a pool among themselves until `DB_ACQUIRE_TIMEOUT`.
//!
//! A request keeps no connection until its first checkout, and none after its kept one broke
//! or a mutation took it for its transaction; the next field to read then checks out the one
//! the request keeps, while the others wait for it as for any kept connection.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use super::{DbConn, Target};

#[derive(Default)]
pub struct Held {
    slot: Mutex<Slot>,
    /// Wakes fields waiting for the kept connection when it comes back or is gone.
    changed: Notify,
}

#[derive(Default)]
enum Slot {
    /// No connection kept: whoever needs one checks out its own.
    #[default]
    Empty,
    /// The kept connection, free.
    Idle(DbConn, Target),
    /// The kept connection, in use by a field of the request.
    Lent,
}

impl Held {
    /// Waits until no other field of the request uses the kept connection, and lends it (or,
    /// when the request keeps none, the right to check out the one it will keep): the other
    /// fields wait until the [`Lease`] ends.
    pub async fn lease(&self) -> Lease<'_> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the slot is read, so an end in between is not missed.
            changed.as_mut().enable();
            {
                let mut slot = self.lock();
                match std::mem::replace(&mut *slot, Slot::Lent) {
                    Slot::Idle(conn, target) => {
                        return Lease::new(Some(self), Some((conn, target)));
                    }
                    Slot::Empty => return Lease::new(Some(self), None),
                    Slot::Lent => {}
                }
            }
            changed.await;
        }
    }

    /// The kept connection if it is free, for good: the request keeps none afterwards (a
    /// mutation's transaction takes it; sign-in and denial audits hand it back to the pool).
    pub fn take_idle(&self) -> Option<(DbConn, Target)> {
        let mut slot = self.lock();
        match std::mem::take(&mut *slot) {
            Slot::Idle(conn, target) => Some((conn, target)),
            Slot::Lent => {
                *slot = Slot::Lent;
                None
            }
            Slot::Empty => None,
        }
    }

    /// Keeps a connection [`Held::take_idle`] gave back unused.
    pub fn put_back(&self, conn: DbConn, target: Target) {
        let mut slot = self.lock();
        if matches!(*slot, Slot::Empty) {
            *slot = Slot::Idle(conn, target);
        }
    }

    fn end(&self, kept: Option<(DbConn, Target)>) {
        *self.lock() = match kept {
            Some((conn, target)) => Slot::Idle(conn, target),
            None => Slot::Empty,
        };
        self.changed.notify_waiters();
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        // Never held across an await or user code: a poisoned lock has no half-done state.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A field's turn with the request's connection (see [`Held::lease`]). Ended with the
/// connection to keep, or with none when it broke or could not be had; a lease dropped
/// half-way (its field was cancelled) ends with none, so the fields waiting go on.
pub struct Lease<'a> {
    held: Option<&'a Held>,
    conn: Option<(DbConn, Target)>,
    ended: bool,
}

impl<'a> Lease<'a> {
    fn new(held: Option<&'a Held>, conn: Option<(DbConn, Target)>) -> Self {
        Lease {
            held,
            conn,
            ended: false,
        }
    }

    /// The request's turn, or an empty lease outside a request.
    pub async fn of(held: Option<&'a Held>) -> Lease<'a> {
        match held {
            Some(held) => held.lease().await,
            None => Lease::new(None, None),
        }
    }

    /// The kept connection lent, if the request keeps one.
    pub fn take(&mut self) -> Option<(DbConn, Target)> {
        self.conn.take()
    }

    /// Ends the turn, keeping `conn` for the request's next statement (any other connection
    /// goes back to its pool when dropped).
    pub fn end(mut self, conn: Option<(DbConn, Target)>) {
        self.ended = true;
        if let Some(held) = self.held {
            held.end(conn);
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if !self.ended
            && let Some(held) = self.held
        {
            held.end(None);
        }
    }
}
