//! Permission rows and the filter over them.

use diesel::prelude::*;

use crate::db::paging::Matching;
use crate::db::schema::permissions;

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = permissions)]
pub struct PermissionRow {
    pub id: i64,
    pub code: String,
    pub description: String,
}

#[derive(Debug, Clone, Default)]
pub struct PermissionFilter {
    pub matching: Matching,
    pub code: Option<String>,
    /// Permissions held by this role (getManyReference from a role).
    pub role_id: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
pub enum PermissionSort {
    Id,
    Code,
}
