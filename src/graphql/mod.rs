//! The GraphQL schema: one Query part and one Mutation part per domain, merged here, with
//! the limits every request runs under.

pub mod context;
pub mod limits;
pub mod list;
pub mod loaders;

use std::sync::Arc;

use async_graphql::{EmptySubscription, MergedObject, Schema};

use crate::audit::graphql::AuditQuery;
use crate::auth::graphql::AuthMutation;
use crate::auth::session::AuthState;
use crate::config::Config;
use crate::db::Database;
use crate::permission::graphql::PermissionQuery;
use crate::role::graphql::{RoleMutation, RoleQuery};
use crate::system::graphql::SystemQuery;
use crate::user::graphql::{UserMutation, UserQuery};

#[derive(MergedObject, Default)]
pub struct Query(
    UserQuery,
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

/// Builds the executable schema; `database` and `config` become schema data.
pub fn build_schema(config: &Config, database: Database, auth: Arc<AuthState>) -> AppSchema {
    build_with_depth(config, database, auth, config.graphql.max_depth)
}

/// The schema that serves introspection-only requests.
pub fn build_introspection_schema(
    config: &Config,
    database: Database,
    auth: Arc<AuthState>,
) -> AppSchema {
    let depth = config.graphql.max_depth.max(INTROSPECTION_DEPTH);
    build_with_depth(config, database, auth, depth)
}

fn build_with_depth(
    config: &Config,
    database: Database,
    auth: Arc<AuthState>,
    depth: usize,
) -> AppSchema {
    schema_builder()
        .limit_depth(depth)
        .limit_complexity(config.graphql.max_complexity)
        .data(database)
        .data(auth)
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
