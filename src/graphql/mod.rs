//! The GraphQL schema: one Query part and one Mutation part per domain, merged here, with
//! the limits every request runs under.

pub mod context;
pub mod list;

use async_graphql::{EmptyMutation, EmptySubscription, MergedObject, Schema};

use crate::config::Config;
use crate::db::Database;
use crate::permission::graphql::PermissionQuery;

#[derive(MergedObject, Default)]
pub struct Query(PermissionQuery);

pub type AppSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Settings resolvers read from the schema data.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_page_size: u32,
}

/// Builds the executable schema; `database` and `config` become schema data.
pub fn build_schema(config: &Config, database: Database) -> AppSchema {
    schema_builder()
        .limit_depth(config.graphql.max_depth)
        .limit_complexity(config.graphql.max_complexity)
        .data(database)
        .data(Limits {
            max_page_size: config.graphql.max_page_size,
        })
        .finish()
}

fn schema_builder() -> async_graphql::SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query::default(), EmptyMutation, EmptySubscription)
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_enum_items(),
    )
}
