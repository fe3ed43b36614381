//! adminql: a GraphQL admin backend for users, roles and permissions.
//!
//! [`build_app`] is the one constructor of the service, used by `main` and by every test.

pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod graphql;
pub mod http;
pub mod permission;
pub mod request;
pub mod retention;
pub mod role;
pub mod system;
pub mod telemetry;
pub mod user;

use std::sync::Arc;

use axum::Router;

use crate::auth::rate_limit::LoginLimits;
use crate::auth::session::AuthState;
use crate::config::Config;
use crate::db::Database;
use crate::graphql::AppSchema;
use crate::graphql::count_cache::CountCache;
use crate::graphql::documents::DocumentCache;
use crate::graphql::limits::QueryLimits;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Database,
    pub schema: AppSchema,
    /// The same schema with a depth limit that fits introspection queries.
    pub introspection_schema: AppSchema,
    pub auth: Arc<AuthState>,
    /// Checked on every document before it runs.
    pub limits: QueryLimits,
    /// List totals; every mutation drops them.
    pub counts: Arc<CountCache>,
    /// Parsed documents by source text.
    pub documents: Arc<DocumentCache>,
    /// The operation names metrics may carry (a bounded set).
    pub operation_labels: Arc<http::labels::OperationLabels>,
}

/// The router and the state behind it.
pub struct App {
    pub router: Router,
    pub state: AppState,
}

/// Builds the service from a validated configuration on a migrated database. Only embedded
/// mode touches the database here (to load its stored token secret); otherwise pools connect
/// on first use.
pub async fn build_app(config: Config) -> anyhow::Result<App> {
    // The metrics recorder first, so that what is recorded while the app starts is kept.
    http::metrics::handle();
    let db = Database::new(&config.database)?;
    let auth = Arc::new(AuthState {
        keys: auth::keys::load(&config, &db).await?,
        limits: LoginLimits::new(
            config.auth.login_rate_limit_per_ip,
            config.auth.login_rate_limit_per_account,
        ),
        refresh_ttl: config.auth.refresh_token_ttl,
    });
    let counts = Arc::new(CountCache::new(config.graphql.count_cache_ttl));
    let shared = graphql::Shared {
        database: db.clone(),
        auth: auth.clone(),
        counts: counts.clone(),
    };
    let schema = graphql::build_schema(&config, shared.clone());
    let introspection_schema = graphql::build_introspection_schema(&config, shared);
    db.spawn_monitor();
    let limits = QueryLimits {
        max_depth: config.graphql.max_depth,
        max_fields: config.graphql.max_fields,
        max_root_fields: config.graphql.max_root_fields,
        max_complexity: config.graphql.max_complexity,
        max_page_size: config.graphql.max_page_size,
    };
    let state = AppState {
        limits,
        config: Arc::new(config),
        db,
        schema,
        introspection_schema,
        auth,
        counts,
        documents: Arc::default(),
        operation_labels: Arc::default(),
    };
    Ok(App {
        router: http::router(state.clone()),
        state,
    })
}
