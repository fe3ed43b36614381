//! adminql: a GraphQL admin backend for users, roles and permissions.
//!
//! [`build_app`] is the one constructor of the service, used by `main` and by every test.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod graphql;
pub mod http;
pub mod permission;
pub mod telemetry;
pub mod user;

use std::sync::Arc;

use axum::Router;

use crate::config::Config;
use crate::db::Database;
use crate::graphql::AppSchema;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Database,
    pub schema: AppSchema,
}

/// The router and the state behind it.
pub struct App {
    pub router: Router,
    pub state: AppState,
}

/// Builds the service from a validated configuration. Opens no connection yet: pools
/// connect on first use.
pub fn build_app(config: Config) -> anyhow::Result<App> {
    let db = Database::new(&config.database)?;
    let schema = graphql::build_schema(&config, db.clone());
    let state = AppState {
        config: Arc::new(config),
        db,
        schema,
    };
    Ok(App {
        router: http::router(state.clone()),
        state,
    })
}
