//! Permissions of users (effective, through roles) and of roles, batched per request.

use super::model::PermissionRow;
use super::repo;
use crate::graphql::loaders::grouped_loader;

grouped_loader!(
    /// A user's effective permissions.
    PermissionsByUser,
    PermissionRow,
    repo::by_users
);

grouped_loader!(
    /// The permissions a role grants.
    PermissionsByRole,
    PermissionRow,
    repo::by_roles
);
