//! Roles of users, batched per request.

use super::model::RoleRow;
use super::repo;
use crate::graphql::loaders::grouped_loader;

grouped_loader!(
    /// The roles a user holds.
    RolesByUser,
    RoleRow,
    repo::by_users
);
