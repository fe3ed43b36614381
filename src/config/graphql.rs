//! The limits a GraphQL operation must stay within, and who may introspect the schema.
//!
//! Reads `GRAPHQL_MAX_PAGE_SIZE`, `GRAPHQL_COUNT_CACHE_TTL`, `GRAPHQL_MAX_DEPTH`,
//! `GRAPHQL_MAX_COMPLEXITY`, `GRAPHQL_MAX_FIELDS`, `GRAPHQL_MAX_ROOT_FIELDS` and
//! `GRAPHQL_PUBLIC_INTROSPECTION`.

use std::time::Duration;

use super::ConfigError;
use super::env::Env;

#[derive(Clone, Debug)]
pub struct GraphqlConfig {
    pub max_page_size: u32,
    /// How long a list total may be reused (see `graphql::count_cache`); zero: never.
    pub count_cache_ttl: Duration,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_fields: usize,
    pub max_root_fields: usize,
    /// Anonymous introspection; `None` means "the mode's default".
    pub public_introspection: Option<bool>,
}

pub(super) fn load(env: &Env) -> Result<GraphqlConfig, ConfigError> {
    Ok(GraphqlConfig {
        max_page_size: env.number("GRAPHQL_MAX_PAGE_SIZE", 100, 1..=10_000)?,
        count_cache_ttl: env.duration_or_zero("GRAPHQL_COUNT_CACHE_TTL", "1s")?,
        max_depth: env.number("GRAPHQL_MAX_DEPTH", 10, 2..=100)?,
        max_complexity: env.number("GRAPHQL_MAX_COMPLEXITY", 20_000, 10..=10_000_000)?,
        max_fields: env.number("GRAPHQL_MAX_FIELDS", 200, 1..=100_000)?,
        max_root_fields: env.number("GRAPHQL_MAX_ROOT_FIELDS", 20, 1..=1000)?,
        public_introspection: env.boolean("GRAPHQL_PUBLIC_INTROSPECTION")?,
    })
}
