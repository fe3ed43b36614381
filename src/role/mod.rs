//! Roles: named sets of permissions, given to users.

pub mod admin;
pub mod graphql;
pub mod loader;
pub mod model;
pub mod repo;
pub mod service;

/// The role that holds every permission; at least one active user must keep it.
pub const ADMIN_ROLE: &str = "admin";
