//! The keep-an-admin rule: no change may leave the installation without an active user
//! holding the `admin` role. Both the user and the role services apply it, from here.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::ADMIN_ROLE;
use crate::db::DbConn;
use crate::db::db_run;
use crate::db::schema::{roles, user_roles, users};
use crate::error::{AppError, AppResult};

/// How many active users hold the admin role.
pub async fn count_active_admins(conn: &mut DbConn) -> QueryResult<i64> {
    db_run!(conn: {
        users::table
            .inner_join(user_roles::table.inner_join(roles::table))
            .filter(users::active.eq(true))
            .filter(roles::name.eq(ADMIN_ROLE))
            // roles.name is unique and (user_id, role_id) is a key: each user counts once.
            .count()
            .get_result(conn)
            .await
    })
}

/// Refuses a change that leaves no active user holding the admin role (when one had it:
/// `admins_before`, counted in the same transaction before the change). A caller whose
/// change cannot take the role from anyone passes 0 and skips the count.
pub async fn keep_an_admin(conn: &mut DbConn, admins_before: i64, field: &str) -> AppResult<()> {
    if admins_before > 0 && count_active_admins(conn).await? == 0 {
        return Err(AppError::bad_input(
            field,
            "this would leave no active user with the admin role; give it to someone else first",
        ));
    }
    Ok(())
}
