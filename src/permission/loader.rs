//! Permissions of users (effective, through roles) and of roles, batched per request.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::model::PermissionRow;
use super::repo;
use scoped_futures::ScopedFutureExt;

use crate::graphql::loaders::{LoadError, LoaderDb, group};

pub struct PermissionsByUser(pub LoaderDb);

impl Loader<i64> for PermissionsByUser {
    type Value = Vec<PermissionRow>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = self
            .0
            .read(|c| repo::by_users(c, keys).scope_boxed())
            .await?;
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
        let rows = self
            .0
            .read(|c| repo::by_roles(c, keys).scope_boxed())
            .await?;
        Ok(group(keys, rows))
    }
}
