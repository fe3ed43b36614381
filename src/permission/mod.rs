//! The permission catalogue (`resource:action` codes). Read-only over the API: the catalogue
//! changes by migration.

pub mod graphql;
pub mod loader;
pub mod model;
pub mod repo;
