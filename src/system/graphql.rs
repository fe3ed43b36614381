//! `systemStatus`.

use async_graphql::{Context, Object, Result, SimpleObject};

use crate::auth::principal::{Require, perm};
use crate::db::Database;

/// Whether writes work and how each replica is doing.
#[derive(SimpleObject)]
pub struct SystemStatus {
    /// True while the primary is unavailable: reads work, mutations fail with `READ_ONLY_MODE`.
    pub read_only: bool,
    pub primary: PrimaryStatus,
    pub replicas: Vec<ReplicaStatus>,
}

#[derive(SimpleObject)]
pub struct PrimaryStatus {
    pub healthy: bool,
}

#[derive(SimpleObject)]
pub struct ReplicaStatus {
    pub name: String,
    /// The last probe found it reachable and within the lag limit.
    pub healthy: bool,
    /// Seconds behind the primary (heartbeat age); null while unknown.
    pub lag_seconds: Option<f64>,
    /// Whether reads are sent to it (a recovered replica returns after a few healthy probes).
    pub in_rotation: bool,
}

#[derive(Default)]
pub struct SystemQuery;

#[Object]
impl SystemQuery {
    /// Database health as this instance sees it.
    #[graphql(guard = "Require(perm::SYSTEM_READ)")]
    async fn system_status(&self, ctx: &Context<'_>) -> Result<SystemStatus> {
        let db = ctx.data_unchecked::<Database>();
        let healthy = db.primary_healthy();
        Ok(SystemStatus {
            read_only: !healthy,
            primary: PrimaryStatus { healthy },
            replicas: db
                .replicas()
                .iter()
                .map(|r| ReplicaStatus {
                    name: r.name.to_string(),
                    healthy: r.healthy(),
                    lag_seconds: r.lag_seconds(),
                    in_rotation: r.in_rotation(),
                })
                .collect(),
        })
    }
}
