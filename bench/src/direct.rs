//! The direct-SQL baseline of issue 16: [`Minimal`]'s operations called in the bench
//! process, with no HTTP, JSON, JWT or GraphQL in between. It is what the ratio targets
//! compare adminql with: the database's own speed for these requests.

use std::sync::Arc;

use crate::load::Client;
use crate::minimal::{Caller, Minimal, Pools};
use crate::scenario::{Op, PAGES, Scenario};
use crate::seed::Dataset;

/// The bootstrap admin's token is issued at token version 0; the auth check compares.
const ADMIN_TOKEN_VERSION: i64 = 0;

/// The direct-SQL client for one scenario.
pub struct Direct {
    minimal: Minimal,
    data: Arc<Dataset>,
    scenario: Scenario,
    per_page: usize,
    /// The signed-in admin whose auth check every request repeats.
    caller: Caller,
}

impl Direct {
    pub fn new(pools: &Pools, data: Arc<Dataset>, scenario: Scenario, per_page: usize) -> Direct {
        Direct {
            minimal: Minimal::new(pools),
            caller: Caller {
                user_id: data.admin_id,
                token_version: ADMIN_TOKEN_VERSION,
            },
            data,
            scenario,
            per_page,
        }
    }

    async fn user_by_id(&self, rng: &mut fastrand::Rng) -> Result<(), String> {
        let id = self.data.user_ids[rng.usize(..self.data.user_ids.len())];
        let user = self
            .minimal
            .user_by_id(self.caller, id)
            .await
            .map_err(|e| e.to_string())?;
        if user.id == id {
            Ok(())
        } else {
            Err(format!("asked for user {id}, got {}", user.id))
        }
    }

    async fn user_list(&self, rng: &mut fastrand::Rng) -> Result<(), String> {
        let pages = (self.data.total_users as usize / self.per_page).clamp(1, PAGES);
        let page = self
            .minimal
            .user_list(self.caller, rng.usize(..pages) as i64, self.per_page as i64)
            .await
            .map_err(|e| e.to_string())?;
        if page.users.len() != self.per_page {
            return Err(format!("{} users on the page", page.users.len()));
        }
        // Every seeded user has 1-3 roles: each on the page must have one.
        let with_roles = page.users.iter().filter(|(_, r)| !r.is_empty()).count();
        if with_roles != page.users.len() {
            return Err(format!(
                "{with_roles} of {} users with roles",
                page.users.len()
            ));
        }
        if page.total != self.data.total_users {
            return Err(format!("count {}", page.total));
        }
        Ok(())
    }

    async fn update_user(&self, rng: &mut fastrand::Rng) -> Result<(), String> {
        let id = self.data.user_ids[rng.usize(..self.data.user_ids.len())];
        let name = format!("Bench User {}", rng.u32(..1_000_000));
        let request_id = format!("{:032x}", rng.u128(..));
        let updated = self
            .minimal
            .update_user(self.caller, id, &name, &request_id, "127.0.0.1")
            .await
            .map_err(|e| e.to_string())?;
        if updated.id == id && updated.name == name {
            Ok(())
        } else {
            Err(format!("updated {updated:?}"))
        }
    }

    /// One operation, answered with the fewest statements.
    pub async fn run(&self, op: Op, rng: &mut fastrand::Rng) -> Result<(), String> {
        match op {
            Op::UserById => self.user_by_id(rng).await,
            Op::UserList => self.user_list(rng).await,
            Op::UpdateUser => self.update_user(rng).await,
            Op::Login => Err("the baseline has no login (argon2 is not SQL)".into()),
        }
    }
}

impl Client for Direct {
    type Session = ();

    async fn open(&self) -> anyhow::Result<()> {
        Ok(())
    }

    async fn call(&self, _: &mut (), rng: &mut fastrand::Rng) -> Result<(), String> {
        let op = self.scenario.pick(rng);
        self.run(op, rng).await
    }
}
