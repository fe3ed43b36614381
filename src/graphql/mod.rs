//! The GraphQL schema: one Query part and one Mutation part per domain, merged here, with
//! the limits every request runs under.

pub mod batch;
pub mod context;
pub mod count_cache;
pub mod documents;
pub mod limits;
pub mod list;
pub mod listable;
pub mod loaders;

use std::sync::Arc;

use async_graphql::{EmptySubscription, MergedObject, Schema};

use self::count_cache::CountCache;
use crate::audit::graphql::AuditQuery;
use crate::auth::graphql::AuthMutation;
use crate::auth::session::AuthState;
use crate::config::Config;
use crate::db::Database;
use crate::permission::graphql::PermissionQuery;
use crate::role::graphql::{RoleMutation, RoleQuery};
use crate::system::graphql::SystemQuery;
use crate::user::graphql::{UserListQuery, UserMutation, UserQuery};

#[derive(MergedObject, Default)]
pub struct Query(
    UserQuery,
    UserListQuery,
    RoleQuery,
    PermissionQuery,
    AuditQuery,
    SystemQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(AuthMutation, UserMutation, RoleMutation);

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Settings resolvers read from the schema data.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_page_size: u32,
    pub password_min_length: usize,
}

/// Depth allowed to introspection-only requests: the standard introspection query (GraphiQL,
/// Apollo, react-admin) nests type references about 13 levels deep.
pub const INTROSPECTION_DEPTH: usize = 20;

/// What every resolver may read from the schema data, besides the configuration.
#[derive(Clone)]
pub struct Shared {
    pub database: Database,
    pub auth: Arc<AuthState>,
    pub counts: Arc<CountCache>,
}

/// Builds the executable schema; `shared` and parts of `config` become schema data.
pub fn build_schema(config: &Config, shared: Shared) -> AppSchema {
    build_with_depth(config, shared, config.graphql.max_depth)
}

/// The schema that serves introspection-only requests.
pub fn build_introspection_schema(config: &Config, shared: Shared) -> AppSchema {
    let depth = config.graphql.max_depth.max(INTROSPECTION_DEPTH);
    build_with_depth(config, shared, depth)
}

fn build_with_depth(config: &Config, shared: Shared, depth: usize) -> AppSchema {
    schema_builder()
        .limit_depth(depth)
        .limit_complexity(config.graphql.max_complexity)
        .data(shared.database)
        .data(shared.auth)
        .data(shared.counts)
        .data(Limits {
            max_page_size: config.graphql.max_page_size,
            password_min_length: config.auth.password_min_length,
        })
        .finish()
}

fn schema_builder() -> async_graphql::SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_enum_items(),
    )
}
