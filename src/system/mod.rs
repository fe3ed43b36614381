//! System status for an admin UI banner: read-only mode and replica health.

pub mod graphql;
