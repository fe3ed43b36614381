//! Users: accounts that sign in and hold roles.

pub mod bootstrap;
pub mod model;
pub mod repo;
