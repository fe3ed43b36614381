//! User rows.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::paging::{Matching, Within};
use crate::db::schema::users;

/// A user as the API shows it. The password hash is not part of it: only signing in and
/// changing one's password read it ([`super::repo::credentials_by_email`],
/// [`super::repo::credentials`]), so no list, loader or auth check carries hashes around.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub active: bool,
    pub token_version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
}

// diesel's default wraps every field, Option or not, in a value that may become `DEFAULT`,
// which makes the statement uncacheable: bound as values, it is prepared once per connection.
#[derive(Insertable, Debug)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub active: bool,
    pub token_version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Columns an update may change; `None` leaves a column as it is.
#[derive(AsChangeset, Debug, Default)]
#[diesel(table_name = users)]
pub struct UserChanges<'a> {
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub active: Option<bool>,
    pub token_version: Option<i32>,
    pub updated_at: Option<NaiveDateTime>,
    pub last_login_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub matching: Matching,
    pub email: Option<String>,
    pub name: Option<String>,
    pub active: Option<bool>,
    /// Users holding this role (getManyReference from a role).
    pub role_id: Option<i64>,
    pub created_at: Within,
    pub updated_at: Within,
    pub last_login_at: Within,
}

#[derive(Debug, Clone, Copy)]
pub enum UserSort {
    Id,
    Email,
    Name,
    Active,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}
