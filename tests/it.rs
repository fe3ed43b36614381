//! The integration tests: one binary, so the MariaDB cluster starts once for all of them.

#[path = "support/mod.rs"]
mod support;

#[path = "it/access_changes.rs"]
mod access_changes;
#[path = "it/admin_ui.rs"]
mod admin_ui;
#[path = "it/archiver_metrics.rs"]
mod archiver_metrics;
#[path = "it/auth.rs"]
mod auth;
#[path = "it/backup.rs"]
mod backup;
#[path = "it/chaos.rs"]
mod chaos;
#[path = "it/cli.rs"]
mod cli;
#[path = "it/cost.rs"]
mod cost;
#[path = "it/domain.rs"]
mod domain;
#[path = "it/drill.rs"]
mod drill;
#[path = "it/edge.rs"]
mod edge;
#[path = "it/exporter.rs"]
mod exporter;
#[path = "it/failover.rs"]
mod failover;
#[path = "it/foundation.rs"]
mod foundation;
#[path = "it/fuzz.rs"]
mod fuzz;
#[path = "it/hardening.rs"]
mod hardening;
#[path = "it/offsite.rs"]
mod offsite;
#[path = "it/overload.rs"]
mod overload;
#[path = "it/pitr.rs"]
mod pitr;
#[path = "it/pitr_support.rs"]
mod pitr_support;
#[path = "it/react_admin.rs"]
mod react_admin;
#[path = "it/restart.rs"]
mod restart;
#[path = "it/retention.rs"]
mod retention;
#[path = "it/routing.rs"]
mod routing;
#[path = "it/schema.rs"]
mod schema;
#[path = "it/tls.rs"]
mod tls;
