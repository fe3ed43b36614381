//! Permissions of users (effective, through roles) and of roles, batched per request.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::model::PermissionRow;
use super::repo;
use crate::graphql::loaders::{LoadError, LoaderDb, fail, group};

pub struct PermissionsByUser(pub LoaderDb);

impl Loader<i64> for PermissionsByUser {
    type Value = Vec<PermissionRow>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut conn = self.0.conn().await?;
        let rows = repo::by_users(&mut conn, keys)
            .await
            .map_err(|e| fail(&e))?;
        Ok(group(keys, rows))
    }
}

pub struct PermissionsByRole(pub LoaderDb);

impl Loader<i64> for PermissionsByRole {
    type Value = Vec<PermissionRow>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut conn = self.0.conn().await?;
        let rows = repo::by_roles(&mut conn, keys)
            .await
            .map_err(|e| fail(&e))?;
        Ok(group(keys, rows))
    }
}
