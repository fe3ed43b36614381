//! The integration tests: one binary, so the MariaDB cluster starts once for all of them.

#[path = "support/mod.rs"]
mod support;

#[path = "it/auth.rs"]
mod auth;
#[path = "it/backup.rs"]
mod backup;
#[path = "it/cli.rs"]
mod cli;
#[path = "it/domain.rs"]
mod domain;
#[path = "it/foundation.rs"]
mod foundation;
#[path = "it/fuzz.rs"]
mod fuzz;
#[path = "it/hardening.rs"]
mod hardening;
#[path = "it/react_admin.rs"]
mod react_admin;
#[path = "it/routing.rs"]
mod routing;
#[path = "it/schema.rs"]
mod schema;
#[path = "it/tls.rs"]
mod tls;
