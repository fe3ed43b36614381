//! Users: accounts that sign in and hold roles.

pub mod bootstrap;
pub mod graphql;
pub mod loader;
pub mod model;
pub mod repo;
pub mod service;
