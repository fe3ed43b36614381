//! Role rows and the filter over them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::paging::{Matching, Within};
use crate::db::schema::roles;

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = roles)]
pub struct RoleRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

// diesel's default wraps every field, Option or not, in a value that may become `DEFAULT`,
// which makes the statement uncacheable: bound as values, it is prepared once per connection.
#[derive(Insertable, Debug)]
#[diesel(table_name = roles, treat_none_as_default_value = false)]
pub struct NewRole<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Columns an update may change; `None` leaves a column as it is.
#[derive(AsChangeset, Debug, Default)]
#[diesel(table_name = roles)]
pub struct RoleChanges<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Default)]
pub struct RoleFilter {
    pub matching: Matching,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Roles granting this permission (getManyReference from a permission).
    pub permission_id: Option<i64>,
    /// Roles held by this user.
    pub user_id: Option<i64>,
    pub created_at: Within,
    pub updated_at: Within,
}

#[derive(Debug, Clone, Copy)]
pub enum RoleSort {
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
}
